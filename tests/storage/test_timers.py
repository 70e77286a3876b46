"""Timers: schedule with dedup or replace, claim when due, leases, cancel."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from storage import (
    outbox,  # timers are re-exported next to the outbox
    timers,
)
from storage.database import Database
from tests.storage.helpers import make_interview


async def test_schedule_claims_in_due_order_and_fires(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    iid = interview.id
    async with database.transaction() as s:
        late = await outbox.schedule_timer(s, "followup", iid, now + timedelta(hours=2), "f:2")
        early = await outbox.schedule_timer(s, "followup", iid, now + timedelta(hours=1), "f:1")
        dup = await outbox.schedule_timer(s, "followup", iid, now, "f:1")
    assert None not in (late, early) and dup is None
    assert await outbox.claim_due_timers(database, now) == []
    claimed = await outbox.claim_due_timers(database, now + timedelta(hours=3), worker_id="w")
    assert [t.id for t in claimed] == [early, late]
    assert all((t.status, t.attempts, t.claimed_by) == ("claimed", 1, "w") for t in claimed)
    fired_at = now + timedelta(hours=3)
    async with database.transaction() as s:
        assert await outbox.mark_timer_fired(s, early or 0, now=fired_at, worker_id="w")
        assert not await outbox.mark_timer_fired(s, early or 0, now=fired_at)
        row = await outbox.get_timer(s, early or 0)
    assert row is not None and (row.status, row.fired_at) == ("fired", fired_at)


async def test_replace_pushes_an_idle_timer_back(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    key = f"idle:{interview.id}"
    async with database.transaction() as s:
        first = await timers.schedule_timer(s, "idle", interview.id, now + timedelta(hours=1), key)
        again = await timers.schedule_timer(
            s, "idle", interview.id, now + timedelta(hours=5), key, replace=True
        )
    assert first == again
    assert await timers.claim_due_timers(database, now + timedelta(hours=2)) == []
    [t] = await timers.claim_due_timers(database, now + timedelta(hours=5))
    async with database.transaction() as s:
        await timers.mark_timer_fired(s, t.id or 0, now=now)
        # A fired timer with the same key can be armed again with replace=True.
        await timers.schedule_timer(
            s, "idle", interview.id, now + timedelta(hours=9), key, replace=True
        )
        [row] = await timers.list_timers(s, interview_id=interview.id)
    assert (row.status, row.due_at, row.attempts, row.fired_at) == (
        "pending",
        now + timedelta(hours=9),
        0,
        None,
    )


async def test_cancel_by_interview_and_kind(database: Database, now: datetime) -> None:
    a = await make_interview(database, now, telegram_id=1)
    b = await make_interview(database, now, telegram_id=2)
    async with database.transaction() as s:
        for interview in (a, b):
            await timers.schedule_timer(s, "idle", interview.id, now)
            await timers.schedule_timer(s, "followup", interview.id, now)
        assert a.id is not None and b.id is not None
        assert await timers.cancel_timers(s, a.id, kind="idle") == 1
        assert await timers.cancel_timers(s, a.id) == 1
        assert await timers.cancel_timers(s, a.id) == 0
    due = await timers.claim_due_timers(database, now)
    assert {t.interview_id for t in due} == {b.id}


async def test_expired_leases_are_reclaimed_then_given_up(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as s:
        tid = await timers.schedule_timer(s, "followup", None, now)
    t = now
    for attempt in (1, 2):
        [row] = await timers.claim_due_timers(database, t, lease_seconds=30, max_attempts=2)
        assert (row.id, row.attempts) == (tid, attempt)
        assert await timers.claim_due_timers(database, t + timedelta(seconds=29)) == []
        t += timedelta(seconds=30)
    assert await timers.claim_due_timers(database, t, max_attempts=2) == []
    async with database.session() as s:
        row = await timers.get_timer(s, tid or 0)
    assert row is not None and row.status == "dead"


async def test_retry_puts_a_timer_back(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        tid = await timers.schedule_timer(s, "followup", None, now)
    [row] = await timers.claim_due_timers(database, now, worker_id="w")
    async with database.transaction() as s:
        assert not await timers.retry_timer(s, tid or 0, now, worker_id="other")
        assert await timers.retry_timer(s, tid or 0, now + timedelta(minutes=1), worker_id="w")
    assert await timers.claim_due_timers(database, now) == []
    assert [t.id for t in await timers.claim_due_timers(database, now + timedelta(minutes=1))] == [
        row.id
    ]


async def test_concurrent_timer_claimers_never_share(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        ids = [await timers.schedule_timer(s, "f", None, now) for _ in range(40)]
    other = Database(database.url)
    try:
        batches = await asyncio.gather(
            *(
                timers.claim_due_timers(db, now, limit=5, worker_id=f"w{i}")
                for i, db in enumerate([database, other] * 5)
            )
        )
    finally:
        await other.dispose()
    claimed = [t.id for batch in batches for t in batch]
    assert len(claimed) == len(set(claimed)) == 40
    assert set(claimed) == set(ids)
