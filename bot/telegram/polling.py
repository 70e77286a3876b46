"""Long polling that confirms an update only once it is handled.

aiogram's polling asks for the next batch (and so confirms the last one to
Telegram: `offset` = last id + 1) while the updates it just fetched are still
being handled; a process killed at that instant loses them. Here the offset
sent to Telegram never passes an update that is not finished:

- `offset` is the lowest update id still being handled (or, when none is, one
  past the highest handled). Telegram forgets only what lies below it.
- While an update is in flight, getUpdates (offset = that update) returns it
  again with whatever is new; the known ones are skipped. So other chats are
  not held up by a slow one, but the loop cannot look more than `limit` (100)
  updates past the oldest unfinished one: a bounded window, not a lost update.
- Updates are handled as tasks, `concurrency` at once, started in update-id
  order, so the dispatcher's per-chat lock (FIFO) keeps each chat's order.
- A transient failure (the database locked or away) is retried in place by
  `ErrorIsolation`, which asks `RetryHold.wait()` here: real-time backoff,
  given up only when the process stops, so the update stays unconfirmed and
  the next process handles it.
- getUpdates errors back off: 429 waits `retry_after`, network errors, 5xx and
  409 double a delay up to a cap.
- `stop` (SIGTERM): stop fetching, let the updates in flight finish (up to
  `drain_timeout`), confirm what finished with one last
  getUpdates(offset, timeout=0, limit=1), return.

`crash_point(name)` is a test hook: inert unless QUALIBOT_TEST_CRASH_AT names
the point (tests SIGKILL a real process at chosen moments with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher
    from aiogram.types import Update

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ test hook

# Read once: "point" (the first time the point is reached) or "point@N" (the Nth time).
_CRASH_AT = os.environ.get("QUALIBOT_TEST_CRASH_AT", "").partition("@")
_crash_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process here when QUALIBOT_TEST_CRASH_AT names `name` (tests only)."""
    if _CRASH_AT[0] != name:
        return
    _crash_hits[name] = hits = _crash_hits.get(name, 0) + 1
    if hits == int(_CRASH_AT[2] or 1):
        log.warning("QUALIBOT_TEST_CRASH_AT=%s: killing this process", name)
        os.kill(os.getpid(), signal.SIGKILL)


# ------------------------------------------------------------------- polling


def _raw_get_updates() -> Any:
    from aiogram.methods import GetUpdates

    class RawGetUpdates(GetUpdates):
        # Plain dicts: each update is parsed on its own (see Poller._parse).
        __returning__ = list[dict[str, Any]]

    return RawGetUpdates


@dataclass(frozen=True)
class PollingConfig:
    timeout: int = 25  # long-poll seconds
    limit: int = 100  # updates per getUpdates (Telegram's maximum): the look-ahead window
    concurrency: int = 32  # updates handled at once (each chat still one at a time)
    backoff: tuple[float, float] = (1.0, 30.0)  # getUpdates failures: first delay, cap
    retry: tuple[float, float] = (1.0, 30.0)  # an update failing transiently: same
    refetch: float = 0.25  # with an update in flight, look for new ones at least this often
    drain_timeout: float = 25.0  # on stop, wait this long for the updates in flight


class Poller:
    """One bot's polling loop. `run()` returns after `stop()` (or the `stopping` event)."""

    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        *,
        allowed_updates: list[str] | None = None,
        config: PollingConfig | None = None,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.allowed_updates = allowed_updates
        self.config = config or PollingConfig()
        self.stopping = stopping or asyncio.Event()
        self.offset: int | None = None  # every update id below this one is handled
        self.confirmed: int | None = None  # the offset Telegram was last sent
        self.handled = 0
        self.unfinished = 0  # left unconfirmed at stop (the next process gets them)
        self._top: int | None = None  # highest update id started
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._done: set[int] = set()  # finished, but above a pending one
        self._left: set[int] = set()  # given up at stop: the offset never passes them
        self._changed = asyncio.Event()
        self._slots = asyncio.Semaphore(self.config.concurrency)

    def stop(self) -> None:
        self.stopping.set()

    # ------------------------------------------------------------- retry hold

    async def wait(self, attempt: int) -> bool:
        """RetryHold for ErrorIsolation: back off before retrying a failed update
        in place; False once stopping (leave it to the next process)."""
        first, cap = self.config.retry
        delay = min(cap, first * 2 ** max(0, attempt - 1))
        return await self._pause(delay)

    @property
    def is_stopping(self) -> bool:
        return self.stopping.is_set()

    # ------------------------------------------------------------------- loop

    async def run(self) -> None:
        workflow = {"dispatcher": self.dispatcher, "bots": [self.bot]}
        await self.dispatcher.emit_startup(bot=self.bot, **workflow)
        try:
            await self._loop()
        finally:
            try:
                await self._finish()
            finally:
                await self.dispatcher.emit_shutdown(bot=self.bot, **workflow)

    async def _loop(self) -> None:
        from aiogram.exceptions import TelegramRetryAfter

        RawGetUpdates = _raw_get_updates()
        first, cap = self.config.backoff
        delay = first
        extra: dict[str, Any] = {}
        if self.bot.session.timeout:
            # The HTTP timeout must outlast the long poll, as in aiogram.
            extra["request_timeout"] = int(self.bot.session.timeout + self.config.timeout)
        while not self.stopping.is_set():
            method = RawGetUpdates(
                offset=self.offset,
                limit=self.config.limit,
                # With an update in flight Telegram answers at once anyway (it is unconfirmed).
                timeout=0 if self._pending else self.config.timeout,
                allowed_updates=self.allowed_updates,
            )
            sent_offset = self.offset
            self._changed.clear()  # from here on, a finished update cuts the wait below short
            try:
                updates = await self._until_stopped(self.bot(method, **extra))
            except TelegramRetryAfter as exc:
                log.warning("getUpdates: 429, waiting %s s", exc.retry_after)
                await self._pause(float(exc.retry_after))
                continue
            except Exception as exc:
                # Network errors, 5xx, 409 (another poller or a webhook): wait and retry;
                # a bot that gives up polling is a dead bot.
                log.error(
                    "getUpdates failed (%s: %s); retrying in %.1f s",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await self._pause(delay)
                delay = min(cap, delay * 2)
                continue
            if updates is None:
                break  # stopping
            delay = first
            if sent_offset is not None:
                self.confirmed = sent_offset
            for raw in updates:
                uid = raw.get("update_id") if isinstance(raw, dict) else None
                if isinstance(uid, int) and not self._is_new(uid):
                    continue  # in flight or done: Telegram repeats what is unconfirmed
                update = self._parse(raw)
                if update is None or not self._is_new(update.update_id):
                    continue
                if not await self._until_stopped(self._slots.acquire()):
                    break  # stopping: this one and later ones stay unconfirmed
                self._start(update)
            if self._pending:
                # Give the updates in flight a moment before asking again: a finished
                # one moves the offset; new ones from other chats wait at most `refetch`.
                await self._until_stopped(
                    asyncio.wait_for(self._changed.wait(), self.config.refetch),
                    suppress=(TimeoutError,),
                )

    def _parse(self, raw: dict[str, Any]) -> Update | None:
        """One update; one that cannot be read is confirmed and skipped, never retried:
        it would block every update behind it (aiogram parses the batch as a whole)."""
        from aiogram.types import Update

        try:
            return Update.model_validate(raw, context={"bot": self.bot})
        except Exception as exc:
            uid = raw.get("update_id") if isinstance(raw, dict) else None
            log.error("Update %s cannot be read, skipped: %s", uid, str(exc)[:500])
            if isinstance(uid, int) and self._is_new(uid):
                self._top = uid if self._top is None else max(self._top, uid)
                self._finished(uid, True)  # done with it: the offset may pass it
            return None

    def _is_new(self, update_id: int) -> bool:
        if self.offset is not None and update_id < self.offset:
            return False  # handled (Telegram sent it again before learning the offset)
        return update_id not in self._pending and update_id not in self._done

    def _start(self, update: Update) -> None:
        uid = update.update_id
        self._top = uid if self._top is None else max(self._top, uid)
        self._pending[uid] = asyncio.create_task(self._handle(update), name=f"update-{uid}")

    async def _handle(self, update: Update) -> None:
        from aiogram.exceptions import TelegramAPIError
        from aiogram.methods import TelegramMethod

        handled = False
        attempt = 0
        try:
            while True:
                try:
                    response = await self.dispatcher.feed_update(self.bot, update)
                    if isinstance(response, TelegramMethod):  # a handler's "webhook reply"
                        with contextlib.suppress(TelegramAPIError):
                            await self.bot(response)
                    handled = True
                    break
                except Exception as exc:
                    # ErrorIsolation handles everything but a transient failure it gave
                    # up on because we are stopping; anything else is a bug outside it.
                    attempt += 1
                    if self.stopping.is_set():
                        log.warning(
                            "Update %s left for the next process (%s)",
                            update.update_id,
                            type(exc).__name__,
                        )
                        break
                    log.exception("Update %s failed; trying again", update.update_id)
                    if not await self.wait(attempt):
                        break
        finally:
            self._slots.release()
            self._finished(update.update_id, handled)
        if handled:
            crash_point("handled")  # handled (replied), not yet confirmed

    def _finished(self, update_id: int, handled: bool) -> None:
        self._pending.pop(update_id, None)
        if handled:
            self.handled += 1
            self._done.add(update_id)
        else:
            self.unfinished += 1
            self._left.add(update_id)
        blocking = self._pending.keys() | self._left
        top = self._top if self._top is not None else update_id
        low = min(blocking) if blocking else top + 1
        if self.offset is None or low > self.offset:
            self.offset = low
            self._done = {i for i in self._done if i >= low}
        self._changed.set()

    async def _finish(self) -> None:
        """Let the updates in flight finish, then tell Telegram what is done."""
        from aiogram.methods import GetUpdates

        tasks = list(self._pending.values())
        if tasks:
            log.info("Waiting for %d update(s) in flight", len(tasks))
            _, late = await asyncio.wait(tasks, timeout=self.config.drain_timeout)
            for task in late:
                task.cancel()  # unconfirmed: the next process handles it again
            if late:
                log.warning(
                    "%d update(s) still running at stop: left for the next process", len(late)
                )
                await asyncio.gather(*late, return_exceptions=True)
        # An unfinished update keeps the offset below it, whatever finished after it.
        if self.offset is None or self.offset == self.confirmed:
            return
        try:
            await self.bot(GetUpdates(offset=self.offset, limit=1, timeout=0))
            self.confirmed = self.offset
        except Exception as exc:  # at worst handled updates come again: applied once
            log.warning("Could not confirm updates below %s: %s", self.offset, exc)

    # ---------------------------------------------------------------- helpers

    async def _pause(self, seconds: float) -> bool:
        """Sleep (real time), cut short by stop; False if stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return not self.stopping.is_set()

    async def _until_stopped(
        self, awaitable: Any, *, suppress: tuple[type[BaseException], ...] = ()
    ) -> Any:
        """Await `awaitable` unless stop comes first (then cancel it, return None)."""
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, *suppress):
                await work
            return None
        try:
            return work.result()
        except suppress:
            return None
