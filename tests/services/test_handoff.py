"""HandoffService: one card per hot lead, fast-track edits, card buttons, permissions."""

from __future__ import annotations

from bot.services.clock import ManualClock
from bot.services.handoff import HandoffService
from bot.services.interview import InterviewService
from storage import repositories as repo
from storage.database import Database
from tests.answers import FOUNDER
from tests.services.conftest import ADMIN, OTHER_SALES, SALES, STRANGER, prospect
from tests.services.helpers import interviews, queued
from tests.services.test_interview import run_founder


async def hot_card(service: InterviewService, database: Database) -> int:
    await run_founder(service)
    [card] = await queued(database, "card")
    return int(card.payload["handoff_id"])


async def test_fast_track_queues_the_card_at_once_then_edits(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    await service.start(p)
    reply = await service.text(p, "How much does it cost? Send the price list please")
    assert reply.lead_became_hot and reply.card_queued
    assert reply.messages[0].kind == "say"  # "a manager will send the prices"
    assert reply.messages[-1].kind == "reask"  # the interview goes on
    [iv] = await interviews(database)
    assert (iv.status, iv.tier, iv.stage, iv.fast_tracked) == ("active", "hot", "MQL", True)
    cards = await queued(database, "card")
    assert len(cards) == 1 and "interview still going" in cards[0].payload["html"]
    # every later step edits the card in place; no second card
    steps = 0
    for text in FOUNDER:
        reply = await service.text(p, text)
        steps += 1
        if reply.finished:
            break
    assert reply.result is not None and reply.result.tier == "hot"
    assert not reply.lead_became_hot
    assert len(await queued(database, "card")) == 1
    edits = await queued(database, "card_edit")
    assert len(edits) == steps
    assert len({e.dedup_key for e in edits}) == steps
    assert "interview finished" in edits[-1].payload["html"]
    assert "95/100" in edits[-1].payload["html"]


async def test_one_card_per_hot_lead_even_after_engagement(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    await run_founder(service, p)
    reply = await service.event(p, "talk_to_person")
    assert not reply.lead_became_hot
    assert len(await queued(database, "card")) == 1


async def test_warm_lead_asking_for_a_person_becomes_hot(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    await service.start(p)
    reply = await service.skip(p)
    while not reply.finished:
        reply = await service.skip(p)
    assert reply.result is not None and reply.result.tier == "cold"
    token = reply.messages[0].buttons[0][0].token
    assert token.startswith("e:")
    pressed = await service.option(p, token)
    assert pressed.lead_became_hot and pressed.card_queued
    assert pressed.notice
    [iv] = await interviews(database)
    assert (iv.status, iv.tier) == ("finished", "hot")


async def test_strangers_are_refused_and_nothing_changes(
    service: InterviewService, handoff: HandoffService, database: Database
) -> None:
    hid = await hot_card(service, database)
    reply = await handoff.press(STRANGER, f"h:{hid}:take")
    assert reply.alert and not reply.changed and reply.card is None
    async with database.session() as s:
        h = await repo.get_handoff(s, hid)
    assert h is not None and h.status == "open" and h.taken_by is None


async def test_take_qualify_and_history(
    service: InterviewService, handoff: HandoffService, database: Database, clock: ManualClock
) -> None:
    hid = await hot_card(service, database)
    clock.advance(minutes=3)
    took = await handoff.press(SALES, f"h:{hid}:take", update_id=900)
    assert took.changed and took.stage == "SAL" and took.card is not None
    assert "Taken by Boris" in took.card.html and "hold" in took.card.html
    labels = [b.label for row in took.card.buttons for b in row]
    assert labels == ["Qualified", "Not a fit", "Nurture", "Back to the bot"]
    dup = await handoff.press(SALES, f"h:{hid}:take", update_id=900)
    assert dup.duplicate
    again = await handoff.press(SALES, f"h:{hid}:take")
    assert not again.changed and not again.alert
    late = await handoff.press(OTHER_SALES, f"h:{hid}:take")
    assert late.alert and "Boris" in late.notice
    sql = await handoff.press(ADMIN, f"h:{hid}:sql")
    assert sql.stage == "SQL" and sql.card is not None and "audit" in sql.card.html
    [iv] = await interviews(database)
    async with database.session() as s:
        changes = await repo.list_stage_changes(s, iv.id)
    assert [(c.from_stage, c.to_stage, c.by_name) for c in changes] == [
        (None, "MQL", "bot"),
        ("MQL", "SAL", "Boris"),
        ("SAL", "SQL", "Admin"),
    ]
    assert changes[1].by_user == 501 and changes[1].at > changes[0].at
    told = await queued(database, "message")
    assert len(told) == 1 and told[0].chat_id == 1001
    assert told[0].payload["text"] == "Boris from our team will write to you here soon."


async def test_not_a_fit_asks_for_a_reason(
    service: InterviewService, handoff: HandoffService, database: Database
) -> None:
    hid = await hot_card(service, database)
    ask = await handoff.press(SALES, f"h:{hid}:nofit")
    assert ask.ask_reason and not ask.changed
    tokens = [b.token for row in ask.ask_reason for b in row]
    assert f"h:{hid}:why:budget" in tokens and f"h:{hid}:cancel" in tokens
    done = await handoff.press(SALES, f"h:{hid}:why:budget")
    assert done.stage == "out"
    [iv] = await interviews(database)
    async with database.session() as s:
        changes = await repo.list_stage_changes(s, iv.id)
        h = await repo.get_handoff(s, hid)
    assert changes[-1].to_stage == "out" and changes[-1].reason == "budget"
    assert h is not None and h.status == "rejected"
    nurture = await handoff.press(SALES, f"h:{hid}:nurture")
    assert nurture.stage == "MQL"
    [iv] = await interviews(database)
    assert iv.stage == "MQL"


async def test_sales_stage_survives_later_steps(
    service: InterviewService, handoff: HandoffService, database: Database
) -> None:
    p = prospect()
    await service.start(p)
    await service.text(p, "can we book a demo?")
    [card] = await queued(database, "card")
    await handoff.press(SALES, f"h:{card.payload['handoff_id']}:take")
    for text in FOUNDER:
        reply = await service.text(p, text)
        if reply.finished:
            break
    [iv] = await interviews(database)
    assert iv.stage == "SAL" and iv.status == "finished"


async def test_card_target_and_fresh_view(
    service: InterviewService, handoff: HandoffService, database: Database
) -> None:
    hid = await hot_card(service, database)
    assert await handoff.card_target(hid) == (-1001234567890, None)
    await handoff.card_sent(hid, 77)
    assert await handoff.card_target(hid) == (-1001234567890, 77)
    view = await handoff.card(hid)
    assert view is not None and "95/100" in view.html
    assert await handoff.card(424242) is None
    assert (await handoff.press(SALES, "h:424242:take")).alert
    assert (await handoff.press(SALES, "nonsense")).alert
