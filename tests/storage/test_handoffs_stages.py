"""Handoffs (cards in the sales chat) and stage changes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from storage import repositories as repo
from storage.database import Database
from tests.storage.helpers import make_interview

SALES_CHAT = -1001234567890


async def test_handoff_lifecycle(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    async with database.transaction() as s:
        handoff = await repo.create_handoff(s, interview.id, SALES_CHAT, now=now)
        assert handoff.id is not None
        assert await repo.attach_handoff_message(s, handoff.id, 2**33)
    async with database.session() as s:
        found = await repo.get_handoff_by_message(s, SALES_CHAT, 2**33)
    assert found is not None and (found.id, found.status, found.chat_id) == (
        handoff.id,
        "open",
        SALES_CHAT,
    )
    taken_at = now + timedelta(minutes=1)
    async with database.transaction() as s:
        assert await repo.take_handoff(s, handoff.id, 5_000_000_000, "Max", now=taken_at)
        assert not await repo.take_handoff(s, handoff.id, 6, "Other")
        assert not await repo.set_handoff_status(s, handoff.id, "rejected", expected="open")
        assert await repo.set_handoff_status(s, handoff.id, "qualified", expected="taken")
    async with database.session() as s:
        got = await repo.get_handoff(s, handoff.id)
        listed = await repo.list_handoffs(s, interview_id=interview.id, status="qualified")
    assert got is not None
    assert (got.status, got.taken_by, got.taken_by_name, got.taken_at) == (
        "qualified",
        5_000_000_000,
        "Max",
        taken_at,
    )
    assert [h.id for h in listed] == [handoff.id]


async def test_a_migrated_group_moves_the_card(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    async with database.transaction() as s:
        handoff = await repo.create_handoff(s, interview.id, -100, now=now)
        assert handoff.id is not None
        await repo.attach_handoff_message(s, handoff.id, 7, chat_id=SALES_CHAT)
    async with database.session() as s:
        assert await repo.get_handoff_by_message(s, -100, 7) is None
        assert await repo.get_handoff_by_message(s, SALES_CHAT, 7) is not None


async def test_two_people_pressing_take_at_once_one_wins(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    async with database.transaction() as s:
        handoff = await repo.create_handoff(s, interview.id, SALES_CHAT)
    handoff_id = handoff.id
    assert handoff_id is not None

    async def take(user: int) -> bool:
        async with database.transaction() as s:
            return await repo.take_handoff(s, handoff_id, user, f"user{user}")

    wins = await asyncio.gather(*(take(u) for u in range(8)))
    assert sum(wins) == 1
    async with database.session() as s:
        got = await repo.get_handoff(s, handoff_id)
    assert got is not None and got.taken_by == wins.index(True)


async def test_stage_changes_are_recorded_with_who_and_why(
    database: Database, now: datetime
) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    t1, t2 = now + timedelta(minutes=1), now + timedelta(minutes=2)
    async with database.transaction() as s:
        first = await repo.change_stage(s, interview.id, "MQL", reason="score 62", now=t1)
        assert await repo.change_stage(s, interview.id, "MQL") is None
        await repo.change_stage(
            s, interview.id, "SAL", by_user=5_000_000_000, by_name="Max", reason="took", now=t2
        )
    assert first is not None and first.from_stage is None
    async with database.session() as s:
        changes = await repo.list_stage_changes(s, interview.id)
        record = await repo.get_interview(s, interview.id)
    assert [(c.from_stage, c.to_stage, c.by_user, c.by_name, c.reason, c.at) for c in changes] == [
        (None, "MQL", None, None, "score 62", t1),
        ("MQL", "SAL", 5_000_000_000, "Max", "took", t2),
    ]
    assert record is not None and record.interview.stage == "SAL"
    async with database.transaction() as s:
        with pytest.raises(LookupError):
            await repo.change_stage(s, 10**9, "SQL")


async def test_concurrent_stage_changes_chain_correctly(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    iid = interview.id
    assert iid is not None

    async def move(stage: str) -> None:
        async with database.transaction() as s:
            await repo.change_stage(s, iid, stage)

    await asyncio.gather(*(move(st) for st in ["MQL", "SAL", "SQL", "out", "MQL2", "SAL2"]))
    async with database.session() as s:
        changes = await repo.list_stage_changes(s, iid)
    # Each change starts where the previous one ended: nobody read a stale stage.
    assert changes[0].from_stage is None
    for before, after in pairwise(changes):
        assert after.from_stage == before.to_stage
