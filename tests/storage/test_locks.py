"""Cross-process chat locks (storage/locks.py): PostgreSQL advisory locks on one
session per process. Each "process" here is its own Database (engine and pool)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from storage.database import Database
from storage.locks import ChatLocks, chat_locks

# Cross-process chat locks are PostgreSQL's (SQLite serves one process): each test
# runs on the backend it is about, instead of skipping on the other one.
POSTGRES = pytest.mark.parametrize("backend", ["postgres"], indirect=True)
SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
async def pair(database: Database) -> AsyncIterator[tuple[ChatLocks, ChatLocks]]:
    other = Database(database.url)
    try:
        yield ChatLocks(database), ChatLocks(other)
    finally:
        await other.dispose()


@SQLITE
async def test_sqlite_needs_no_cross_process_lock(database: Database) -> None:
    assert chat_locks(database) is None
    with pytest.raises(ValueError):
        ChatLocks(database)


@POSTGRES
async def test_a_chat_is_held_by_one_process_at_a_time(
    pair: tuple[ChatLocks, ChatLocks],
) -> None:
    a, b = pair
    events: list[str] = []

    async def second() -> None:
        async with b.hold(42) as held:
            assert held
            events.append("b in")

    async with a.hold(42) as held:
        assert held
        events.append("a in")
        task = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        assert events == ["a in"]  # b is still waiting
        async with b.hold(43):  # another chat does not wait
            events.append("b other chat")
        events.append("a out")
    await asyncio.wait_for(task, 5)
    assert events == ["a in", "b other chat", "a out", "b in"]


@POSTGRES
async def test_many_chats_share_one_connection_given_back_when_idle(
    pair: tuple[ChatLocks, ChatLocks],
) -> None:
    a, b = pair
    pool = a.db.engine.pool
    entered = asyncio.Event()
    go = asyncio.Event()
    count = 0

    async def one(chat: int) -> None:
        nonlocal count
        async with a.hold(chat):
            count += 1
            if count == 50:
                entered.set()
            await go.wait()

    tasks = [asyncio.create_task(one(chat)) for chat in range(1000, 1050)]
    await asyncio.wait_for(entered.wait(), 5)
    assert a.held == 50
    assert pool.checkedout() == 1  # type: ignore[attr-defined]
    # Each of the 50 is really locked against another process.
    b.max_wait = 0.1
    async with b.hold(1049) as held_elsewhere:
        assert not held_elsewhere
    go.set()
    await asyncio.gather(*tasks)
    assert a.held == 0 and pool.checkedout() == 0  # type: ignore[attr-defined]


@POSTGRES
async def test_a_process_that_dies_frees_its_locks(pair: tuple[ChatLocks, ChatLocks]) -> None:
    a, b = pair
    async with a.hold(7):
        assert a._conn is not None
        pid = (await a._conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with b.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # The dead session's lock is gone: the other process gets the chat at once.
        async with b.hold(7) as held:
            assert held
    # a's release found its session gone: logged, not raised; a works again afterwards.
    async with a.hold(7) as held:
        assert held


@POSTGRES
async def test_a_stuck_holder_is_waited_for_at_most_max_wait(
    pair: tuple[ChatLocks, ChatLocks],
) -> None:
    a, b = pair
    b.max_wait = 0.2
    async with a.hold(8), b.hold(8) as held:
        assert not held  # handled anyway, without the lock
    assert b.unlocked_runs == 1


@POSTGRES
async def test_a_waiter_cancelled_leaves_nothing_locked(
    pair: tuple[ChatLocks, ChatLocks],
) -> None:
    a, b = pair

    async def wait_for_it() -> None:
        async with b.hold(9):
            raise AssertionError("never got here")

    async with a.hold(9):
        waiter = asyncio.create_task(wait_for_it())
        await asyncio.sleep(0.1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with b.hold(9) as held:  # b's session is clean: it takes the lock normally
        assert held
    async with a.hold(9) as held:  # and gave it back
        assert held
