"""Outbox: enqueue in the caller's transaction, dedup, claims, leases, retries."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from storage import outbox
from storage import repositories as repo
from storage.database import Database
from storage.tables import Outbox
from tests.storage.helpers import make_interview

CHAT = -1001234567890


async def _enqueue(db: Database, n: int, now: datetime, **kw: object) -> list[int]:
    ids = []
    async with db.transaction() as s:
        for i in range(n):
            new_id = await outbox.enqueue(s, "message", CHAT, {"i": i}, now=now, **kw)  # type: ignore[arg-type]
            assert new_id is not None
            ids.append(new_id)
    return ids


async def _get(db: Database, outbox_id: int) -> Outbox:
    async with db.session() as s:
        row = await outbox.get_outbox(s, outbox_id)
    assert row is not None
    return row


async def test_enqueue_commits_with_the_callers_transaction(
    database: Database, now: datetime
) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    with pytest.raises(RuntimeError):
        async with database.transaction() as s:
            await repo.update_interview(s, interview.id, tier="hot")
            await outbox.enqueue(s, "card", CHAT, {"interview": interview.id}, "card:1")
            raise RuntimeError("crash before commit")
    async with database.session() as s:
        assert await outbox.list_outbox(s) == []
    async with database.transaction() as s:
        await repo.update_interview(s, interview.id, tier="hot")
        card_id = await outbox.enqueue(
            s, "card", CHAT, {"interview": interview.id}, "card:1", now=now
        )
    row = await _get(database, card_id or 0)
    assert (row.kind, row.chat_id, row.payload, row.status, row.attempts) == (
        "card",
        CHAT,
        {"interview": interview.id},
        "pending",
        0,
    )
    assert row.created_at == now and row.not_before is None


async def test_duplicate_dedup_keys_are_ignored(database: Database) -> None:
    async with database.transaction() as s:
        first = await outbox.enqueue(s, "card", CHAT, {"v": 1}, "card:7")
        second = await outbox.enqueue(s, "card", CHAT, {"v": 2}, "card:7")
        free = [await outbox.enqueue(s, "message", CHAT, {}, None) for _ in range(2)]
    assert first is not None and second is None and None not in free

    async def racer(i: int) -> int | None:
        async with database.transaction() as s:
            return await outbox.enqueue(s, "card", CHAT, {"v": i}, "card:race")

    results = await asyncio.gather(*(racer(i) for i in range(10)))
    assert sum(r is not None for r in results) == 1
    async with database.session() as s:
        rows = await outbox.list_outbox(s)
    assert len(rows) == 4
    assert [r.payload for r in rows if r.dedup_key == "card:7"] == [{"v": 1}]


async def test_claims_due_messages_in_creation_order(database: Database, now: datetime) -> None:
    ids = await _enqueue(database, 5, now)
    async with database.transaction() as s:
        later = await outbox.enqueue(s, "message", CHAT, {}, not_before=now + timedelta(minutes=5))
    first = await outbox.claim_batch(database, now, limit=3, lease_seconds=600, worker_id="w1")
    rest = await outbox.claim_batch(database, now, limit=10, lease_seconds=600, worker_id="w1")
    assert [m.id for m in first] == ids[:3]
    assert [m.id for m in rest] == ids[3:]  # the scheduled one is not due yet
    assert all(
        m.status == "sending" and m.attempts == 1 and m.claimed_by == "w1" for m in first + rest
    )
    assert first[0].lease_until == now + timedelta(seconds=600)
    assert await outbox.claim_batch(database, now, limit=10) == []
    due = await outbox.claim_batch(database, now + timedelta(minutes=5), limit=10)
    assert [m.id for m in due] == [later]


async def test_an_expired_lease_is_claimed_again(database: Database, now: datetime) -> None:
    [msg] = await _enqueue(database, 1, now)
    [claimed] = await outbox.claim_batch(database, now, lease_seconds=60, worker_id="dead")
    assert claimed.id == msg
    assert await outbox.claim_batch(database, now + timedelta(seconds=59)) == []
    [again] = await outbox.claim_batch(database, now + timedelta(seconds=60), worker_id="w2")
    assert (again.id, again.attempts, again.claimed_by) == (msg, 2, "w2")
    # The first worker comes back late: its result must not overwrite the new claim.
    async with database.transaction() as s:
        assert not await outbox.mark_sent(s, msg, now=now, message_id=1, worker_id="dead")
        assert await outbox.mark_sent(s, msg, now=now, message_id=2, worker_id="w2")
    row = await _get(database, msg)
    assert (row.status, row.message_id, row.sent_at, row.lease_until) == ("sent", 2, now, None)


async def test_a_message_that_keeps_crashing_workers_dies(
    database: Database, now: datetime
) -> None:
    [msg] = await _enqueue(database, 1, now)
    t = now
    for attempt in range(1, 4):
        [m] = await outbox.claim_batch(database, t, lease_seconds=10, max_attempts=3)
        assert m.attempts == attempt
        t += timedelta(seconds=10)
    assert await outbox.claim_batch(database, t, lease_seconds=10, max_attempts=3) == []
    row = await _get(database, msg)
    assert (row.status, row.error) == ("dead", "lease expired")


async def test_failures_retry_until_the_cap(database: Database, now: datetime) -> None:
    [msg] = await _enqueue(database, 1, now)
    t = now
    statuses = []
    for _ in range(3):
        [m] = await outbox.claim_batch(database, t, worker_id="w")
        retry_at = t + timedelta(seconds=5)
        async with database.transaction() as s:
            statuses.append(
                await outbox.mark_failed(
                    s, m.id or 0, "server error", retry_at, max_attempts=3, worker_id="w"
                )
            )
        assert await outbox.claim_batch(database, retry_at - timedelta(microseconds=1)) == []
        t = retry_at
    assert statuses == ["pending", "pending", "dead"]
    row = await _get(database, msg)
    assert (row.status, row.attempts, row.error) == ("dead", 3, "server error")
    async with database.transaction() as s:
        assert await outbox.mark_failed(s, msg, "late", t) is None  # not claimed any more


async def test_a_permanent_error_kills_at_once(database: Database, now: datetime) -> None:
    [msg] = await _enqueue(database, 1, now)
    await outbox.claim_batch(database, now)
    async with database.transaction() as s:
        assert await outbox.mark_failed(s, msg, "Forbidden: bot was blocked", None) == "dead"


async def test_rate_limit_reschedule_gives_the_attempt_back(
    database: Database, now: datetime
) -> None:
    [msg] = await _enqueue(database, 1, now)
    [m] = await outbox.claim_batch(database, now)
    assert m.attempts == 1
    retry = now + timedelta(seconds=17)
    async with database.transaction() as s:
        assert await outbox.reschedule(s, msg, retry)
    row = await _get(database, msg)
    assert (row.status, row.attempts, row.not_before, row.lease_until) == (
        "pending",
        0,
        retry,
        None,
    )
    assert await outbox.claim_batch(database, now + timedelta(seconds=16)) == []
    [again] = await outbox.claim_batch(database, retry)
    async with database.transaction() as s:
        assert await outbox.reschedule(s, msg, retry, count_attempt=True)
    assert (await _get(database, msg)).attempts == 1
    assert again.id == msg


async def test_cancel_and_purge(database: Database, now: datetime) -> None:
    a, b, c = await _enqueue(database, 3, now)
    async with database.transaction() as s:
        await outbox.enqueue(s, "card", CHAT, {}, "card:x", now=now)
        assert await outbox.cancel_outbox(s, outbox_id=a)
        assert await outbox.cancel_outbox(s, dedup_key="card:x")
        assert not await outbox.cancel_outbox(s, dedup_key="card:x")
        with pytest.raises(ValueError):
            await outbox.cancel_outbox(s)
    [m, _] = await outbox.claim_batch(database, now, limit=5)
    assert m.id == b
    async with database.transaction() as s:
        await outbox.mark_sent(s, m.id or 0, now=now)
        assert await outbox.purge_outbox(s, now + timedelta(seconds=1)) == 3
        left = await outbox.list_outbox(s)
    assert [r.id for r in left] == [c]


async def test_concurrent_claimers_never_share_a_message(database: Database, now: datetime) -> None:
    ids = await _enqueue(database, 60, now)
    # Two Database objects behave like two processes (separate pools).
    other = Database(database.url)
    try:
        batches = await asyncio.gather(
            *(
                outbox.claim_batch(db, now, limit=7, worker_id=f"w{i}")
                for i, db in enumerate([database, other] * 5)
            )
        )
    finally:
        await other.dispose()
    claimed = [m.id for batch in batches for m in batch]
    assert len(claimed) == len(set(claimed))  # nobody got a message twice
    assert sorted(claimed) == ids  # 10 x 7 >= 60: every message went to someone
    for batch in batches:
        assert [m.id for m in batch] == sorted(m.id or 0 for m in batch)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_locked_message_is_skipped_not_waited_for(
    database: Database, now: datetime
) -> None:
    ids = await _enqueue(database, 3, now)
    async with database.transaction() as holder:
        # Another worker is in the middle of claiming the first message.
        await holder.exec(
            text("SELECT id FROM outbox WHERE id = :id FOR UPDATE"), params={"id": ids[0]}
        )
        batch = await asyncio.wait_for(outbox.claim_batch(database, now, limit=10), timeout=5)
    assert [m.id for m in batch] == ids[1:]
