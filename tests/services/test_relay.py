"""Relay: sales reply to a card → the prospect; the prospect → the card; back to the bot.
Mapping only through the card's (chat, message), so nothing leaks between prospects."""

from __future__ import annotations

from bot.services.config import ServiceConfig
from bot.services.handoff import HandoffService
from bot.services.interview import InterviewService
from bot.services.relay import RelayService
from storage.database import Database
from tests.answers import FOUNDER
from tests.services.conftest import SALES, SALES_CHAT, prospect
from tests.services.helpers import queued
from tests.services.test_interview import run_founder


async def card_of(db: Database, handoff: HandoffService, user_id: int, message_id: int) -> int:
    cards = [c for c in await queued(db, "card")]
    hid = int(cards[-1].payload["handoff_id"])
    await handoff.card_sent(hid, message_id)
    return hid


async def test_relay_both_ways_after_take_and_back_to_the_bot(
    service: InterviewService,
    handoff: HandoffService,
    database: Database,
    config: ServiceConfig,
    clock,
) -> None:
    relay = RelayService(database, config=config, clock=clock)
    anna, boris = prospect(1001, "Anna"), prospect(1002, "Boris")
    await run_founder(service, anna)
    hid_anna = await card_of(database, handoff, anna.user_id, 70)
    await run_founder(service, boris)
    await card_of(database, handoff, boris.user_id, 71)

    # Before Take: a reply is refused politely, the prospect's text goes to the bot.
    before = await relay.from_sales(SALES_CHAT, 70, SALES, "Hello!")
    assert before.status == "not_taken" and before.out is None
    assert await relay.from_prospect(anna.user_id, "hi") is None

    await handoff.press(SALES, f"h:{hid_anna}:take")
    sent = await relay.from_sales(
        SALES_CHAT, 70, SALES, "Hello Anna, when can we call?", update_id=5
    )
    assert sent.status == "sent" and sent.out is not None
    assert sent.out.chat_id == anna.chat_id
    assert sent.out.text.endswith("— Boris") and "when can we call" in sent.out.text
    dup = await relay.from_sales(
        SALES_CHAT, 70, SALES, "Hello Anna, when can we call?", update_id=5
    )
    assert dup.status == "duplicate"
    # Only the card's own (chat, message): another chat or a random message maps to nothing.
    assert (await relay.from_sales(-42, 70, SALES, "x")).status == "not_a_card"
    assert (await relay.from_sales(SALES_CHAT, 9999, SALES, "x")).status == "not_a_card"

    back = await relay.from_prospect(anna.user_id, "Tomorrow at 10")
    assert back is not None and back.chat_id == SALES_CHAT and back.reply_to_message_id == 70
    assert "Anna" in back.text and "Tomorrow at 10" in back.text
    assert await relay.from_prospect(boris.user_id, "still there?") is None  # not taken

    pressed = await handoff.press(SALES, f"h:{hid_anna}:bot")
    assert pressed.changed and pressed.card is not None
    assert [b.label for row in pressed.card.buttons for b in row] == ["Take"]
    assert await relay.from_prospect(anna.user_id, "hello?") is None
    told = [r for r in await queued(database, "message") if r.chat_id == anna.chat_id]
    assert any("Thank you for talking with Boris" in r.payload["text"] for r in told)
    assert (await relay.from_sales(SALES_CHAT, 70, SALES, "one more")).status == "not_taken"
    # Take again works from "returned".
    again = await handoff.press(SALES, f"h:{hid_anna}:take")
    assert again.changed
    assert await relay.from_prospect(anna.user_id, "hi again") is not None


async def test_unreachable_prospect(
    service: InterviewService, handoff: HandoffService, database: Database, config, clock
) -> None:
    relay = RelayService(database, config=config, clock=clock)
    anna = prospect()
    await run_founder(service, anna, FOUNDER)
    hid = await card_of(database, handoff, anna.user_id, 80)
    await handoff.press(SALES, f"h:{hid}:take")
    await service.stop(anna)
    result = await relay.from_sales(SALES_CHAT, 80, SALES, "Hi")
    assert result.status == "unreachable" and result.out is None


async def test_text_check_relay_rides_on_the_step_read(
    service: InterviewService,
    handoff: HandoffService,
    database: Database,
    config: ServiceConfig,
    clock,
) -> None:
    """text(check_relay=True): the relay check is part of the step's own read (no query
    of its own per typed message); while sales has the lead nothing is written, the
    update mark included, so the relay can record the same update."""
    relay = RelayService(database, config=config, clock=clock)
    anna = prospect(1001, "Anna")
    await run_founder(service, anna)
    hid = await card_of(database, handoff, anna.user_id, 70)
    before = await service.text(anna, "hello", update_id=900, check_relay=True)
    assert not before.relayed  # not taken yet: the bot answers
    await handoff.press(SALES, f"h:{hid}:take")
    taken = await service.text(anna, "hello", update_id=901, check_relay=True)
    assert taken.relayed and not taken.duplicate and not taken.messages
    out = await relay.from_prospect(anna.user_id, "hello", update_id=901)
    assert out is not None  # the mark was rolled back: the relay records this update
    assert (await service.text(anna, "hello", update_id=901, check_relay=True)).duplicate
    assert not (await service.text(anna, "hi", update_id=902)).relayed  # opt-in only
    await handoff.press(SALES, f"h:{hid}:bot")
    assert not (await service.text(anna, "hi", update_id=903, check_relay=True)).relayed
