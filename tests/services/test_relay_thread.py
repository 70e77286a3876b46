"""The relay's thread and once-per-update rule at the service level: every card the
lead got (the SLA timer posts a new one) and every relayed message maps back to the
lead; an update id is relayed once, in both directions."""

from __future__ import annotations

from bot.services.config import ServiceConfig
from bot.services.handoff import HandoffService
from bot.services.interview import InterviewService
from bot.services.relay import RelayService
from storage import repositories as repo
from storage.database import Database
from tests.services.conftest import SALES, SALES_CHAT, prospect
from tests.services.helpers import queued
from tests.services.test_interview import run_founder


async def test_thread_and_once_per_update(
    service: InterviewService,
    handoff: HandoffService,
    database: Database,
    config: ServiceConfig,
    clock,
) -> None:
    relay = RelayService(database, config=config, clock=clock)
    anna, boris = prospect(1001, "Anna"), prospect(1002, "Boris")
    await run_founder(service, anna)
    hid = int((await queued(database, "card"))[-1].payload["handoff_id"])
    await handoff.card_sent(hid, 70)
    await handoff.card_sent(hid, 70)  # the outbox reports at least once
    await run_founder(service, boris)
    await handoff.card_sent(int((await queued(database, "card"))[-1].payload["handoff_id"]), 71)
    await handoff.card_sent(hid, 90)  # Anna's card raised again by the SLA timer
    assert await handoff.card_target(hid) == (SALES_CHAT, 90)
    await handoff.press(SALES, f"h:{hid}:take")

    # A reply to the first card and to the raised one both reach Anna.
    for card_message, update_id in ((70, 1), (90, 2)):
        sent = await relay.from_sales(
            SALES_CHAT, card_message, SALES, "Hi", update_id=update_id, message_id=100 + update_id
        )
        assert sent.status == "sent" and sent.out is not None
        assert sent.out.chat_id == anna.chat_id
    again = await relay.from_sales(SALES_CHAT, 70, SALES, "Hi", update_id=1, message_id=101)
    assert again.status == "duplicate"
    # The salesperson's own message is not a bot message of the thread.
    assert (await relay.from_sales(SALES_CHAT, 101, SALES, "x", update_id=3)).status == (
        "not_a_card"
    )

    out = await relay.from_prospect(anna.user_id, "Call me at 10", update_id=10)
    assert out is not None and out.reply_to_message_id == 90 and out.record_id is not None
    assert await relay.from_prospect(anna.user_id, "Call me at 10", update_id=10) is None
    await relay.sent(out, SALES_CHAT, 95)
    reply = await relay.from_sales(SALES_CHAT, 95, SALES, "Deal", update_id=11, message_id=111)
    assert reply.status == "sent" and reply.out is not None
    assert reply.out.chat_id == anna.chat_id

    async with database.session() as s:
        rows = await repo.list_handoff_messages(s, hid)
    assert [(r.kind, r.message_id, r.update_id) for r in rows] == [
        ("card", 70, None),
        ("card", 90, None),
        ("from_sales", 101, 1),
        ("from_sales", 102, 2),
        ("from_prospect", 95, 10),
        ("from_sales", 111, 11),
    ]
