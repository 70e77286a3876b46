"""Our polling loop (bot/telegram/polling.py) through aiogram's real client against the
fake Bot API: an update is confirmed to Telegram only once handled, so a SIGKILL while
it is being handled loses nothing; a database that is locked or away makes the update
wait (unconfirmed), never half-applied or dropped; getUpdates errors back off; SIGTERM
confirms what finished. Also: a callback query is answered once across retries."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from functools import partialmethod
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from bot.runner import BotRunner
from bot.telegram.polling import PollingConfig
from storage.database import Database
from storage.repositories.interviews import StaleInterviewError
from tests.answers import FOUNDER
from tests.fakebot import FakeTelegramServer, FakeUser
from tests.telegram.conftest import TgEnv
from tests.telegram.test_prospect import answers_of, begin
from tests.telegram.test_runner import _bot_env, _first_poll, _spawn

# Real-time waits of the loop, short for tests (the defaults are seconds).
FAST = PollingConfig(backoff=(0.05, 0.4), retry=(0.05, 0.2), refetch=0.05)


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every BotRunner of the test uses FAST (tg.start builds its own runner)."""
    monkeypatch.setattr(BotRunner, "__init__", partialmethod(BotRunner.__init__, polling=FAST))


def queued(fake: FakeTelegramServer) -> list[int]:
    """Update ids Telegram still keeps (not confirmed)."""
    return [e.update_id for e in fake.bot().queue]


def is_question(n: int) -> Any:
    return lambda m: (m.text or "").startswith(f"{n}/")


def said(user: FakeUser, prefix: str) -> int:
    return sum((m.text or "").startswith(prefix) for m in user.messages if m.from_bot)


# ------------------------------------------------------------------ outages


class TcpProxy:
    """127.0.0.1:port -> target; `down()` refuses connections and cuts open ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:  # the test's loop is closing: the pipes just end
            pass
        finally:
            self._writers -= {writer, up_writer}


class Outage:
    """The bot's database locked (SQLite: another connection holds an exclusive lock,
    and the bot's busy timeout is short) or away (PostgreSQL: connections refused)."""

    def __init__(self, database: Database) -> None:
        self.url = database.url
        self.sqlite = self.url.get_backend_name() == "sqlite"
        self.proxy: TcpProxy | None = None
        self._lock: sqlite3.Connection | None = None

    async def bot_database(self) -> Database:
        if self.sqlite:
            db = Database(self.url)

            @event.listens_for(db.engine.sync_engine, "connect")
            def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
                # After the module's pragmas (listeners run in order): fail fast.
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA busy_timeout=50")
                cursor.close()

            return db
        url = self.url
        self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        await self.proxy.up()
        return Database(url.set(port=self.proxy.port))

    async def begin(self) -> None:
        if self.sqlite:
            self._lock = sqlite3.connect(self.url.database or "", isolation_level=None)
            self._lock.execute("BEGIN EXCLUSIVE")
        else:
            assert self.proxy is not None
            await self.proxy.down()

    async def end(self) -> None:
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None
        if self.proxy is not None:
            await self.proxy.up()


@pytest.fixture
async def outage(tg: TgEnv, fast_polling: None) -> AsyncIterator[tuple[Outage, Database]]:
    out = Outage(tg.database)
    db = await out.bot_database()
    try:
        yield out, db
    finally:
        await out.end()
        for bot in tg.running:  # stop the bots before their database goes
            if not bot.task.done():
                bot.runner.stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bot.task, 10)
        await db.dispose()
        if out.proxy is not None:
            await out.proxy.down()


async def test_database_away_in_polling_the_update_waits_unconfirmed_then_applies_once(
    tg: TgEnv, outage: tuple[Outage, Database]
) -> None:
    out, db = outage
    bot = await tg.start(database=db)
    alice = tg.user("Alice")
    await begin(alice)
    await tg.settle()
    before = said(alice, "")
    await out.begin()
    update_id = alice.send(FOUNDER[0])
    errors = bot.app.parts.errors
    await tg.fake.wait_until(lambda: errors.held >= 3, timeout=10)  # tried, waiting
    assert update_id in queued(tg.fake)  # not confirmed: Telegram keeps it
    assert said(alice, "") == before  # no apology ("send it again"), nothing half-done
    await out.end()
    assert (await alice.next_message(timeout=10)).text.startswith("2/")
    await tg.settle()
    assert update_id not in queued(tg.fake)
    assert [a.question_id for a in await answers_of(tg.database, alice.id)] == ["budget"]
    assert said(alice, "2/") == 1 and errors.errors == 0


async def test_database_away_at_sigterm_the_update_is_left_for_the_next_process(
    tg: TgEnv, outage: tuple[Outage, Database]
) -> None:
    out, db = outage
    first = await tg.start(database=db)
    alice = tg.user("Alice")
    await begin(alice)
    await tg.settle()
    await out.begin()
    update_id = alice.send(FOUNDER[0])
    await tg.fake.wait_until(lambda: first.app.parts.errors.held >= 1, timeout=10)
    assert await first.stop() == 0  # gives up waiting at once, exits cleanly
    assert update_id in queued(tg.fake)
    await out.end()
    await tg.start(database=db)
    assert (await alice.next_message(timeout=10)).text.startswith("2/")
    await tg.settle()
    assert [a.question_id for a in await answers_of(tg.database, alice.id)] == ["budget"]
    assert said(alice, "2/") == 1


async def test_sigterm_finishes_in_flight_then_confirms_with_a_last_get_updates(
    tg: TgEnv,
) -> None:
    bot = await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    tg.fake.slow(0.3, method="sendMessage", chat_id=alice.id, times=1)
    update_id = alice.send(FOUNDER[0])
    await tg.fake.wait_until(
        lambda: any(
            c.chat_id == alice.id and not c.finished for c in tg.fake.calls_to("sendMessage")
        )
    )
    assert update_id in queued(tg.fake)  # being handled: not confirmed yet
    assert await bot.stop() == 0
    last = tg.fake.calls_to("getUpdates")[-1]
    assert last.params.get("offset") == update_id + 1
    assert last.params.get("timeout") == 0 and last.params.get("limit") == 1
    assert queued(tg.fake) == []  # everything handled was confirmed
    assert said(alice, "2/") == 1


async def test_get_updates_errors_back_off_and_polling_recovers(
    tg: TgEnv, fast_polling: None
) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    await tg.settle()
    polls = len(tg.fake.calls_to("getUpdates"))

    def failed() -> list[Any]:
        return [c for c in tg.fake.calls_to("getUpdates")[polls:] if c.finished and c.status != 200]

    tg.fake.server_error(502, method="getUpdates", include_polling=True, times=4)
    alice.send(FOUNDER[0])  # wakes the parked long poll; the next ones fail
    assert (await alice.next_message(timeout=10)).text.startswith("2/")
    await tg.fake.wait_until(lambda: len(failed()) >= 4)
    # The waits between failures grow (0.05, 0.1, 0.2 real seconds): no hot loop.
    gaps = [b.time - a.time for a, b in itertools.pairwise(failed())]
    assert gaps[0] >= 0.04 and gaps[2] > gaps[0] * 2, gaps

    tg.fake.drop_connection(method="getUpdates", include_polling=True, times=1)
    tg.fake.retry_after(1, method="getUpdates", include_polling=True, times=1)
    alice.send(FOUNDER[1])
    assert (await alice.next_message(timeout=10)).text.startswith("3/")
    alice.send(FOUNDER[2])
    assert (await alice.next_message(timeout=10)).text.startswith("4/")
    await tg.settle()
    assert len(failed()) >= 5
    answers = await answers_of(tg.database, alice.id)
    assert [a.question_id for a in answers] == ["budget", "role", "need"]


async def test_a_slow_update_holds_the_offset_not_other_chats(
    tg: TgEnv, fast_polling: None
) -> None:
    await tg.start()
    slow, quick = tg.user("Sol"), tg.user("Quinn")
    await begin(slow)
    await begin(quick)
    await tg.settle()
    tg.fake.slow(0.8, method="sendMessage", chat_id=slow.id, times=1)
    held = slow.send(FOUNDER[0])
    await tg.fake.wait_until(
        lambda: any(
            c.chat_id == slow.id and not c.finished for c in tg.fake.calls_to("sendMessage")
        )
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    later = quick.send(FOUNDER[0])
    assert (await quick.next_message(is_question(2))).text.startswith("2/")
    assert loop.time() - started < 0.5  # not behind the slow chat
    assert held in queued(tg.fake) and later in queued(tg.fake)  # the offset waits for it
    assert (await slow.next_message(is_question(2), timeout=5)).text.startswith("2/")
    await tg.settle()
    assert queued(tg.fake) == []
    for user in (slow, quick):
        assert [a.question_id for a in await answers_of(tg.database, user.id)] == ["budget"]


async def test_one_chat_keeps_its_order_while_others_run_concurrently(tg: TgEnv) -> None:
    await tg.start()
    users = [tg.user(f"U{i}") for i in range(6)]
    for user in users:
        await begin(user)
    await tg.settle()
    for text_ in FOUNDER[:3]:  # interleaved: three answers each, all in one burst
        for user in users:
            user.send(text_)
    for user in users:
        await user.next_message(is_question(4), timeout=10)
    await tg.settle()
    for user in users:
        answers = await answers_of(tg.database, user.id)
        assert [a.question_id for a in answers] == ["budget", "role", "need"]


# --------------------------------------------------------- callback answered once


async def test_answer_callback_query_twice_after_a_transient_error_bug(tg: TgEnv) -> None:
    """The benchmark saw a second answerCallbackQuery ("query is too old") for one press:
    a transient error after the press was answered made ErrorIsolation run the handler
    again, and the retry's PromptAnswer answered once more."""
    tg.fake.require_callback_answers = True
    bot = await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    service = bot.app.interview
    original = service.note_message
    failures = 0

    async def locked_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failures == 0:  # after option() committed and the press was answered
            failures += 1
            raise OperationalError("UPDATE interview", {}, Exception("database is locked"))
        return await original(*args, **kwargs)

    service.note_message = locked_once
    alice.click("Yes, the price works")
    assert (await alice.next_message()).text.startswith("2/")
    await tg.settle()
    assert failures == 1
    answers = tg.fake.calls_to("answerCallbackQuery")
    assert len(answers) == 1 and answers[0].ok
    assert not tg.fake.problems, [str(p) for p in tg.fake.problems]


async def test_answer_callback_query_twice_after_the_deadline_answered_bug(tg: TgEnv) -> None:
    """The first attempt was slow (its 1.5 s deadline answered the press), then failed
    transiently; the retry must not answer again."""
    tg.fake.require_callback_answers = True
    bot = await tg.start()
    bot.app.deps.callback_budget = 0.05
    alice = tg.user("Alice")
    await begin(alice)
    service = bot.app.interview
    original = service.option
    attempts = 0

    async def slow_then_stale(*args: Any, **kwargs: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await asyncio.sleep(0.2)  # past the deadline: the press is answered empty
            raise StaleInterviewError("moved on meanwhile")
        return await original(*args, **kwargs)

    service.option = slow_then_stale
    alice.click("Yes, the price works")
    assert (await alice.next_message()).text.startswith("2/")
    await tg.settle()
    assert attempts == 2
    assert len(tg.fake.calls_to("answerCallbackQuery")) == 1
    assert not tg.fake.problems, [str(p) for p in tg.fake.problems]


# ------------------------------------------------ SIGKILL while an update is handled


@contextlib.contextmanager
def sqlite_write_lock(path: str) -> Iterator[None]:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        con.execute("ROLLBACK")
        con.close()


@contextlib.asynccontextmanager
async def database_stalled(database: Database) -> AsyncIterator[None]:
    """Writers wait (the bot's handler stops before its transaction commits)."""
    if database.url.get_backend_name() == "sqlite":
        with sqlite_write_lock(database.url.database or ""):  # the bot's busy timeout is 5 s
            yield
        return
    async with database.engine.connect() as conn:
        await conn.begin()
        await conn.execute(text("LOCK TABLE processed_update IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await conn.rollback()


async def test_python_m_bot_killed_while_an_update_is_handled_gets_it_again(
    fake_api: FakeTelegramServer, database: Database, tmp_path: Path
) -> None:
    """aiogram's loop would have confirmed the update with its next getUpdates while
    the handler still ran; ours polls again with the same offset, so after SIGKILL
    Telegram still has it and the next process handles it: nothing lost, nothing twice."""
    fake = fake_api
    fake.group("Sales", id=-1001000000001)
    env = _bot_env(fake, tmp_path / "unused.db")
    env["DATABASE_URL"] = database.url.render_as_string(hide_password=False)
    alice = fake.user("Alice")
    log = tmp_path / "bot.log"
    first = await _spawn(env, tmp_path, log)
    try:
        await _first_poll(fake, 0)
        await begin(alice)
        await fake.wait_idle()
        async with database_stalled(database):
            update_id = alice.send(FOUNDER[0])
            await fake.wait_until(
                lambda: any(update_id in (c.result or []) for c in fake.calls_to("getUpdates"))
            )
            fetched = len(fake.calls_to("getUpdates"))
            # The loop keeps polling (for other chats) while the handler waits...
            await fake.wait_until(lambda: len(fake.calls_to("getUpdates")) >= fetched + 2)
            assert update_id in queued(fake)  # ...without confirming it
            first.kill()
            await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    polls = len(fake.calls_to("getUpdates"))
    second = await _spawn(env, tmp_path, log)
    try:
        await _first_poll(fake, polls)
        assert (await alice.next_message(is_question(2), timeout=10)).text.startswith("2/")
        await fake.wait_idle()
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 15)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    assert second.returncode == 0, log.read_text(errors="replace")[-2000:]
    assert update_id not in queued(fake)
    assert [a.question_id for a in await answers_of(database, alice.id)] == ["budget"]
    assert said(alice, "2/") == 1
