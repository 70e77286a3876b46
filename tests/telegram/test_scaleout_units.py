"""The pieces that let several bot processes share one database (issue 7), each
tested with two "processes" in this one (two Database objects, two pacers or two
chat-lock middlewares): shared group pacing and the cross-process chat lock.
The whole thing, with real processes, is tests/scaleout/."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage

from bot.telegram.middlewares import ChatLock
from bot.telegram.pacing import Limits, Pacer, PacingMiddleware
from storage.database import Database
from storage.locks import ChatLocks
from storage.rate_slots import SharedRate

GROUP = -1009876543210
EPOCH = 1_900_000_000.0


class FakeTime:
    """Seconds since the epoch; a sleep advances them at once."""

    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def second_db(database: Database) -> AsyncIterator[Database]:
    """The same database as `database`, as another process would open it."""
    other = Database(database.url)
    try:
        yield other
    finally:
        await other.dispose()


class Granted(SharedRate):
    """Records the (fake) time each slot was granted at: with a fake clock that every
    sleeper advances, the time a caller looks after its await is not the grant's."""

    def __init__(self, db: Database, t: FakeTime, log: list[tuple[float, int]], i: int) -> None:
        super().__init__(db, wall=t)
        self.log, self.i = log, i

    async def take(self, key: str, interval: float, *, burst: int = 0) -> float:
        assert self.wall is not None
        now = self.wall()
        wait = await super().take(key, interval, burst=burst)
        if wait <= 0:
            self.log.append((now, self.i))
        return wait


def _pacer(db: Database, t: FakeTime) -> Pacer:
    return Pacer(Limits(), clock=t, sleep=t.sleep, shared=SharedRate(db, wall=t))


async def test_two_processes_keep_the_group_to_one_message_every_3_s(
    database: Database, second_db: Database
) -> None:
    t = FakeTime()
    granted: list[tuple[float, int]] = []
    pacers = [
        Pacer(Limits(), clock=t, sleep=t.sleep, shared=Granted(db, t, granted, i))
        for i, db in enumerate((database, second_db))
    ]

    async def sends(i: int) -> None:
        for _ in range(6):
            await pacers[i].acquire(GROUP)

    await asyncio.gather(sends(0), sends(1))
    times = sorted(s for s, _ in granted)
    assert len(times) == 12
    assert {i for _, i in granted} == {0, 1}
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 3.0 - 1e-3, gaps
    # Private chats are not the database's business: no waiting between processes.
    before = t.now
    await pacers[0].acquire(7)
    await pacers[1].acquire(7)
    assert t.now == before


async def test_a_429_in_the_group_holds_every_process(
    database: Database, second_db: Database
) -> None:
    t = FakeTime()
    first, second = _pacer(database, t), _pacer(second_db, t)
    method = SendMessage(chat_id=GROUP, text="card")

    async def refused(_bot: Any, m: Any) -> Any:
        raise TelegramRetryAfter(m, "Too Many Requests", 30)

    with pytest.raises(TelegramRetryAfter):
        await PacingMiddleware(first)(refused, None, method)  # type: ignore[arg-type]
    start = t.now
    await second.acquire(GROUP)  # the other process waits out the hold
    assert t.now - start == pytest.approx(30.0, abs=0.01)


async def test_a_failing_shared_budget_falls_back_to_pacing_in_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        async def take(self, key: str, interval: float, *, burst: int = 0) -> float:
            raise ConnectionError("database away")

        async def hold(self, key: str, seconds: float) -> None:
            raise ConnectionError("database away")

    t = FakeTime()
    pacer = Pacer(Limits(), clock=t, sleep=t.sleep, shared=Broken())
    for _ in range(3):
        await pacer.acquire(GROUP)
    assert t.now - EPOCH == pytest.approx(6.0)  # the local bucket: one every 3 s
    await pacer.hold(GROUP, 10.0)  # logged, not raised
    assert "pacing locally" in caplog.text


def _data(chat_id: int) -> dict[str, Any]:
    chat = SimpleNamespace(id=chat_id, type="private")
    return {"event_context": SimpleNamespace(chat_id=chat_id, user_id=chat_id, chat=chat)}


# The cross-process lock is PostgreSQL's (SQLite serves one process).
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_one_chat_is_handled_by_one_process_at_a_time(
    database: Database, second_db: Database
) -> None:
    middlewares = [ChatLock(shared=ChatLocks(database)), ChatLock(shared=ChatLocks(second_db))]
    busy: set[int] = set()
    overlaps: list[tuple[int, str]] = []
    order: list[str] = []

    async def handler(name: str, chat_id: int) -> Any:
        async def run(_event: Any, _data: dict[str, Any]) -> str:
            if chat_id in busy:
                overlaps.append((chat_id, name))
            busy.add(chat_id)
            order.append(f"{name} in")
            await asyncio.sleep(0.1)  # sending the reply
            order.append(f"{name} out")
            busy.discard(chat_id)
            return name

        return run

    calls = [
        middlewares[i % 2](await handler(f"u{i}", 42), object(), _data(42))  # type: ignore[arg-type]
        for i in range(4)
    ]
    others = [
        middlewares[i % 2](await handler(f"o{i}", 100 + i), object(), _data(100 + i))
        for i in range(2)
    ]  # type: ignore[arg-type]
    results = await asyncio.gather(*calls, *others)
    assert results == ["u0", "u1", "u2", "u3", "o0", "o1"]
    assert overlaps == []
    # Other chats did not wait for chat 42: both were in before chat 42's second update.
    assert order.index("o0 in") < order.index("u0 out")
    assert all(m.shared is not None and m.shared.held == 0 for m in middlewares)
