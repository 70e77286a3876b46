"""Follow-up timers: one reminder, SLA raise then admins, warm nurture; once each,
across restarts and concurrent workers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.services.clock import ManualClock
from bot.services.config import ServiceConfig
from bot.services.flow_registry import FlowRegistry
from bot.services.followup import FollowUpService, add_working_minutes
from bot.services.handoff import HandoffService
from bot.services.interview import InterviewService
from flows.schema import WorkingHours
from storage.database import Database
from storage.timers import list_timers
from tests.services.conftest import MULTI, SALES, prospect
from tests.services.helpers import interviews, queued
from tests.services.test_interview import run_founder

NURTURED = MULTI.replace(
    "texts:\n",
    "  - id: materials_opened\n"
    "    points: 3\n"
    "    label: {en: opened the materials, ru: открыл материалы}\n"
    "followup:\n"
    "  nurture_hours: 48\n"
    "  nurture: {en: 'Here is our guide, {{ first_name }}.', ru: 'Вот наш гид.'}\n"
    "  nurture_url: https://example.com/guide\n"
    "texts:\n",
    1,
)
assert "followup" in NURTURED


@pytest.fixture
def admin_config(config: ServiceConfig) -> ServiceConfig:
    return replace(config, admin_ids=frozenset({1, 2}))


@pytest.fixture
def stack(
    database: Database,
    admin_config: ServiceConfig,
    clock: ManualClock,
    tmp_path: Path,
    builtin_paths: dict[str, Path],
):
    nurtured = tmp_path / "nurtured.yaml"
    nurtured.write_text(NURTURED.replace("id: multi", "id: nurtured"), encoding="utf-8")
    paths = {**builtin_paths, "nurtured": nurtured}

    def make(db: Database) -> tuple[InterviewService, HandoffService, FollowUpService]:
        registry = FlowRegistry(db, config=admin_config, clock=clock, builtin_paths=paths)
        handoff = HandoffService(db, registry, config=admin_config, clock=clock)
        service = InterviewService(db, registry, config=admin_config, clock=clock, handoff=handoff)
        return service, handoff, FollowUpService(db, registry, config=admin_config, clock=clock)

    return make


async def messages_to(db: Database, chat_id: int) -> list:
    return [r for r in await queued(db, "message") if r.chat_id == chat_id]


async def test_one_reminder_with_continue_never_twice_even_after_a_restart(
    database: Database, stack, clock: ManualClock
) -> None:
    service, _, followup = stack(database)
    p = prospect()
    await service.start(p)
    await service.text(p, "We compared the market and chose your product. The price is fine.")
    clock.advance(hours=23)
    assert [f.outcome for f in await followup.run_due()] == []
    await service.text(p, "I'm the founder, the final decision is mine.")  # pushes it back
    clock.advance(hours=23)
    assert await followup.run_due() == []
    clock.advance(hours=1, minutes=1)
    fired = await followup.run_due()
    assert [(f.kind, f.outcome) for f in fired] == [("remind", "sent")]
    [reminder] = await messages_to(database, p.chat_id)
    assert "continue" in reminder.payload["text"].lower()
    token = reminder.payload["buttons"][0][0]["token"]
    assert token.startswith("c:")

    # A restart: new objects on the same database. Nothing fires again, ever.
    fresh = Database(database.url)
    try:
        service2, _, followup2 = stack(fresh)
        clock.advance(days=3)
        assert await followup2.run_due() == []
        # Continue shows the current question; stopping again never brings a second one.
        reply = await service2.option(p, token)
        assert reply.messages and reply.messages[-1].kind == "question"
        assert reply.messages[-1].text.startswith("3/")
        clock.advance(days=3)
        assert await followup2.run_due() == []
    finally:
        await fresh.dispose()
    assert len(await messages_to(database, p.chat_id)) == 1


@pytest.mark.parametrize("ending", ["stop", "cancel", "finish", "taken", "blocked"])
async def test_no_reminder_after_stop_cancel_finish_block_or_sales(
    database: Database, stack, clock: ManualClock, ending: str
) -> None:
    service, handoff, followup = stack(database)
    p = prospect()
    if ending in ("finish", "taken"):
        await run_founder(service, p)
        if ending == "taken":
            [card] = await queued(database, "card")
            await handoff.press(SALES, f"h:{card.payload['handoff_id']}:take")
    else:
        await service.start(p)
        await service.text(p, "We chose your product, the price is fine.")
        if ending == "stop":
            await service.stop(p)
        elif ending == "cancel":
            await service.cancel(p)
        else:
            await service.mark_blocked(p.chat_id)
    clock.advance(days=2)
    for fired in await followup.run_due():
        assert fired.kind != "remind" or fired.outcome.startswith("skipped")
    texts = [r.payload.get("text", "") for r in await messages_to(database, p.chat_id)]
    assert not any("continue" in t.lower() for t in texts)


async def test_a_fast_tracked_lead_taken_mid_interview_gets_no_reminder(
    database: Database, stack, clock: ManualClock
) -> None:
    service, handoff, followup = stack(database)
    p = prospect()
    await service.start(p)
    await service.text(p, "How much does it cost? Send the price list please")
    [card] = await queued(database, "card")
    await handoff.press(SALES, f"h:{card.payload['handoff_id']}:take")
    clock.advance(days=2)
    outcomes = {f.kind: f.outcome for f in await followup.run_due()}
    assert outcomes["remind"] == "skipped: sales took the lead"


async def test_sla_raises_the_card_once_then_tells_admins_once(
    database: Database, stack, clock: ManualClock
) -> None:
    service, handoff, followup = stack(database)
    await run_founder(service)
    [card] = await queued(database, "card")
    hid = int(card.payload["handoff_id"])
    clock.advance(minutes=14)
    assert await followup.run_due() == []
    clock.advance(minutes=2)
    # The card is not out yet: try again a little later, do not mark it fired.
    assert [f.outcome for f in await followup.run_due()] == ["later"]
    await handoff.card_sent(hid, 555)
    clock.advance(minutes=2)
    fired = await followup.run_due()
    assert [(f.kind, f.outcome) for f in fired] == [("sla", "sent")]
    cards = await queued(database, "card")
    assert len(cards) == 2 and "Nobody has taken" in cards[1].payload["html"]
    assert any(e.dedup_key == f"sla_edit:{hid}" for e in await queued(database, "card_edit"))
    clock.advance(minutes=16)
    fired = await followup.run_due()
    assert [(f.kind, f.outcome) for f in fired] == [("sla_admins", "sent")]
    assert sorted(r.chat_id for r in await queued(database, "message") if r.chat_id in (1, 2)) == [
        1,
        2,
    ]
    clock.advance(days=1)
    assert await followup.run_due() == []
    assert len(await queued(database, "card")) == 2


async def test_sla_skipped_when_taken(database: Database, stack, clock: ManualClock) -> None:
    service, handoff, followup = stack(database)
    await run_founder(service)
    [card] = await queued(database, "card")
    hid = int(card.payload["handoff_id"])
    await handoff.card_sent(hid, 555)
    await handoff.press(SALES, f"h:{hid}:take")
    clock.advance(hours=1)
    fired = await followup.run_due()
    assert [f.outcome for f in fired if f.kind == "sla"] == ["skipped: card taken"]
    assert len(await queued(database, "card")) == 1


async def test_two_workers_at_once_fire_a_timer_once(
    database: Database, stack, clock: ManualClock
) -> None:
    service, handoff, _ = stack(database)
    await run_founder(service)
    [card] = await queued(database, "card")
    await handoff.card_sent(int(card.payload["handoff_id"]), 9)
    clock.advance(hours=1)
    other = Database(database.url)
    try:
        a = stack(database)[2]
        b = stack(other)[2]
        results = await asyncio.gather(a.run_due(worker_id="a"), b.run_due(worker_id="b"))
    finally:
        await other.dispose()
    sent = [f for batch in results for f in batch if f.kind == "sla" and f.outcome == "sent"]
    assert len(sent) == 1
    assert len(await queued(database, "card")) == 2


async def test_warm_lead_gets_the_nurture_message_once_and_pressing_it_scores(
    database: Database, stack, clock: ManualClock
) -> None:
    service, _, followup = stack(database)
    p = prospect()
    await service.start(p, flow="nurtured")
    await service.text(p, "CRM")
    reply = await service.text(p, "5")
    assert reply.result is not None and reply.result.tier == "warm"
    clock.advance(hours=47)
    assert [f.kind for f in await followup.run_due()] == []
    clock.advance(hours=2)
    assert [(f.kind, f.outcome) for f in await followup.run_due()] == [("nurture", "sent")]
    [message] = await messages_to(database, p.chat_id)
    assert message.payload["text"] == "Here is our guide, Anna."
    token = message.payload["buttons"][0][0]["token"]
    pressed = await service.option(p, token)
    assert any(m.text == "https://example.com/guide" for m in pressed.messages)
    [iv] = await interviews(database)
    assert iv.engagement_score == 3
    again = await service.option(p, token)  # counted once
    [iv] = await interviews(database)
    assert iv.engagement_score == 3 and again is not None
    clock.advance(days=5)
    assert await followup.run_due() == []


async def test_no_nurture_for_flows_without_one(database: Database, stack, clock) -> None:
    service, _, _ = stack(database)
    p = prospect()
    await service.start(p, flow="multi")
    await service.text(p, "CRM")
    await service.text(p, "5")
    async with database.session() as s:
        kinds = [t.kind for t in await list_timers(s)]
    assert "nurture" not in kinds


def test_working_hours_count_only_open_time() -> None:
    hours = WorkingHours(days=[1, 2, 3, 4, 5], start="09:00", end="18:00", utc_offset="+00:00")
    friday_late = datetime(2030, 1, 18, 17, 50, tzinfo=UTC)  # a Friday
    assert add_working_minutes(friday_late, 15, hours) == datetime(2030, 1, 21, 9, 5, tzinfo=UTC)
    night = datetime(2030, 1, 15, 2, 0, tzinfo=UTC)
    assert add_working_minutes(night, 15, hours) == datetime(2030, 1, 15, 9, 15, tzinfo=UTC)
    assert add_working_minutes(night, 15, None) == datetime(2030, 1, 15, 2, 15, tzinfo=UTC)
    moscow = WorkingHours(start="09:00", end="18:00", utc_offset="+03:00")
    # 06:00 UTC is 09:00 in Moscow: open.
    at = datetime(2030, 1, 15, 6, 0, tzinfo=UTC)
    assert add_working_minutes(at, 30, moscow) == datetime(2030, 1, 15, 6, 30, tzinfo=UTC)
