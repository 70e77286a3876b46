"""Update-level middlewares (outer, on `dispatcher.update`), outermost first:

1. `InFlight`: counts updates being handled, so shutdown can wait for them
   (aiogram's polling does not await its handler tasks when it stops).
2. `ChatLock`: one update per chat at a time, in arrival order (asyncio.Lock is
   FIFO). Locks are reference-counted and dropped when unused, unlike aiogram's
   SimpleEventIsolation, whose dictionary only grows. Updates beyond a few
   waiting in one private chat are dropped: a flood is not answered message by
   message, and one flooder queues only behind itself. Other chats never wait.
   On PostgreSQL it also takes the chat's cross-process lock (storage/locks.py)
   once this process's turn has come, so several processes behind one webhook
   URL still handle one chat's updates one at a time, replies included.
3. `Returned`: a prospect who blocked the bot and writes again is unblocked.
4. `ErrorIsolation`: an exception in a handler is logged (the secret filter
   keeps the token out), the prospect gets a short apology, the bot goes on.
   Transient database errors (locked, connection lost) are retried a few times
   first: each service call is one transaction with the update-id mark, so a
   failed attempt left nothing behind. If the database stays away, webhook mode
   re-raises (HTTP 500: Telegram redelivers), polling apologises.
5. `RecentUpdates`: a redelivered update id that this process already handled
   is dropped before any handler runs. The durable check is the services'
   (`update_id=` on every call, `processed_update` in the same transaction);
   this one also covers handlers that change nothing (/help) and saves a trip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import CallbackQuery, TelegramObject, Update

from bot.telegram.retry import RetryMiddleware, Sleep
from bot.telegram.texts import say

if TYPE_CHECKING:
    from storage.locks import ChatLocks

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def _context_key(data: dict[str, Any]) -> Hashable | None:
    ctx = data.get("event_context")
    if ctx is None:
        return None
    return ctx.chat_id if ctx.chat_id is not None else ctx.user_id


class InFlight(BaseMiddleware):
    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        self.count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until no update is being handled; False if `timeout` ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class _Slot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class ChatLock(BaseMiddleware):
    def __init__(
        self,
        max_waiting: int = 50,
        max_waiting_private: int = 5,
        *,
        shared: ChatLocks | None = None,
    ) -> None:
        # A prospect waits for the bot's reply before writing again, so more than a few
        # queued updates in a private chat is a flood (or a paste cut into pieces); a
        # sales group can have many people pressing at once.
        self.max_waiting = max_waiting
        self.max_waiting_private = max_waiting_private
        # Cross-process locks (PostgreSQL), or None: one process, nothing more to do.
        self.shared = shared
        self._slots: dict[Hashable, _Slot] = {}
        self.dropped = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        key = _context_key(data)
        if key is None:
            return await handler(event, data)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        ctx = data.get("event_context")
        private = ctx is not None and ctx.chat is not None and ctx.chat.type == "private"
        if slot.users > (self.max_waiting_private if private else self.max_waiting):
            self.dropped += 1
            log.info("Chat %s is flooding: update %s dropped", key, _update_id(event))
            return None
        slot.users += 1
        try:
            async with slot.lock:
                if self.shared is None:
                    return await handler(event, data)
                # Taken after the in-process lock: this process asks the database for a
                # chat at most once at a time (its lock session would grant a repeat).
                async with self.shared.hold(key):
                    return await handler(event, data)
        finally:
            slot.users -= 1
            if slot.users == 0:
                self._slots.pop(key, None)

    def __len__(self) -> int:
        return len(self._slots)


class Returned(BaseMiddleware):
    """Clear the remembered 403 for a prospect who writes again (they unblocked us)."""

    def __init__(self, retry: RetryMiddleware) -> None:
        self.retry = retry

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        ctx = data.get("event_context")
        chat_id = getattr(ctx, "chat_id", None)
        if chat_id is not None and chat_id in self.retry.blocked:
            await self.retry.mark_returned(chat_id)
        return await handler(event, data)


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying the whole update for: the database was briefly away or
    locked, or another process moved the interview on (optimistic concurrency)."""
    from sqlalchemy import exc as sa_exc

    from storage.repositories.interviews import StaleInterviewError

    if isinstance(exc, StaleInterviewError):
        return True
    if isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.TimeoutError
        | sa_exc.DisconnectionError,
    ):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # A refused or reset database connection (asyncpg raises OSError subclasses).
    return isinstance(exc, ConnectionError | TimeoutError) and not isinstance(exc, TelegramAPIError)


class RetryHold(Protocol):
    """Polling's patience for a transient failure (bot.telegram.polling.Poller)."""

    @property
    def is_stopping(self) -> bool: ...
    async def wait(self, attempt: int) -> bool: ...  # back off; False once stopping


class AnswerOnce:
    """Per update, shared by every attempt: a callback query is answered at most once,
    even when a retry runs the handler again after the first attempt answered it.
    `recent` (query ids answered lately in this process) also covers a redelivery."""

    __slots__ = ("answered", "query_id", "recent")

    def __init__(
        self, query_id: str | None = None, recent: OrderedDict[str, None] | None = None
    ) -> None:
        self.query_id = query_id
        self.recent = recent
        self.answered = recent is not None and query_id is not None and query_id in recent

    def claim(self) -> bool:
        """True for the one caller that may answer."""
        if self.answered:
            return False
        self.answered = True
        if self.recent is not None and self.query_id is not None:
            self.recent[self.query_id] = None
            if len(self.recent) > 5000:
                self.recent.popitem(last=False)
        return True


_answer_once: ContextVar[AnswerOnce | None] = ContextVar("qualibot_answer_once", default=None)


def current_answer_once() -> AnswerOnce | None:
    """The AnswerOnce of the update being handled (for PromptAnswer in any router)."""
    return _answer_once.get()


class ErrorIsolation(BaseMiddleware):
    """Isolate handler errors; retry transient ones (see the module docstring).

    `hold` (polling): after the quick attempts a transient failure is retried in
    place, with the hold's backoff, until it succeeds or the process stops; the
    update keeps its chat's lock meanwhile, so the chat's later updates keep their
    order, and at stop it is raised so the poller leaves it unconfirmed.
    """

    def __init__(
        self,
        *,
        redeliver_on_transient: bool = False,
        attempts: int = 3,
        delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        sleep: Sleep = asyncio.sleep,
        apology_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        hold: RetryHold | None = None,
    ) -> None:
        self.redeliver_on_transient = redeliver_on_transient
        self.attempts = attempts
        self.delays = delays
        self.sleep = sleep
        self.apology_every = apology_every
        self.clock = clock
        self.hold = hold
        self._apologised: dict[int, float] = {}
        self.errors = 0
        self.held = 0  # transient failures waited out in place (polling)
        self._answered: OrderedDict[str, None] = OrderedDict()  # callback query ids

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        attempt = 0
        query = event.callback_query if isinstance(event, Update) else None
        # The same for every attempt of this update (and a redelivery of it).
        once = AnswerOnce(query.id if query is not None else None, self._answered)
        while True:
            attempt += 1
            try:
                # A fresh copy each time: inner middlewares add keys to `data`.
                token = _answer_once.set(once)
                try:
                    return await handler(event, {**data, "answer_once": once})
                finally:
                    _answer_once.reset(token)
            except TelegramForbiddenError:
                return None  # the prospect blocked us mid-reply: nothing more to say
            except Exception as exc:
                transient = is_transient(exc)
                if transient and attempt < self.attempts:
                    delay = self.delays[min(attempt - 1, len(self.delays) - 1)]
                    log.warning(
                        "Update %s: %s, retrying in %.1f s",
                        _update_id(event),
                        type(exc).__name__,
                        delay,
                    )
                    await self.sleep(delay)
                    continue
                if transient and self.hold is not None:
                    if not self.hold.is_stopping:
                        self.held += 1
                        if attempt == self.attempts:
                            await self._stop_spinner(query, data, once)
                        log.warning(
                            "Update %s: %s (attempt %d); waiting, not dropping it",
                            _update_id(event),
                            type(exc).__name__,
                            attempt,
                        )
                        if await self.hold.wait(attempt - self.attempts + 1):
                            continue
                    raise  # stopping: unconfirmed, the next process handles it
                self.errors += 1
                log.exception("Update %s failed: %s", _update_id(event), type(exc).__name__)
                if transient and self.redeliver_on_transient:
                    raise  # webhook: answer 500, Telegram delivers the update again later
                await self._apologise(event, data, busy=transient, once=once)
                return None

    async def _stop_spinner(
        self, query: CallbackQuery | None, data: dict[str, Any], once: AnswerOnce
    ) -> None:
        """A press whose update must wait: answer it now (empty) rather than leave the
        button spinning; the wait may be long."""
        bot: Bot | None = data.get("bot")
        if query is None or bot is None or not once.claim():
            return
        try:
            await bot.answer_callback_query(query.id)
        except TelegramAPIError as exc:
            log.info("Callback %s not answered: %s", query.id, type(exc).__name__)

    async def _apologise(
        self, event: TelegramObject, data: dict[str, Any], *, busy: bool, once: AnswerOnce
    ) -> None:
        bot: Bot | None = data.get("bot")
        ctx = data.get("event_context")
        if bot is None or ctx is None or ctx.chat is None or ctx.chat.type != "private":
            return
        user = ctx.user
        text = say("busy" if busy else "apology", user.language_code if user else None)
        try:
            if isinstance(event, Update) and event.callback_query is not None and once.claim():
                # Stop the spinner, unless an attempt answered the press already: then
                # the message below still tells the prospect.
                await bot.answer_callback_query(event.callback_query.id, text=text)
            now = self.clock()
            last = self._apologised.get(ctx.chat.id)
            if last is not None and now - last < self.apology_every:
                return  # one apology is enough during a burst of failures
            if len(self._apologised) > 10_000:
                self._apologised.clear()
            self._apologised[ctx.chat.id] = now
            await bot.send_message(ctx.chat.id, text, parse_mode=None)
        except TelegramAPIError as exc:
            log.info("Could not apologise in chat %s: %s", ctx.chat.id, type(exc).__name__)


class RecentUpdates(BaseMiddleware):
    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._seen: OrderedDict[int, None] = OrderedDict()
        self.skipped = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update_id = _update_id(event)
        if update_id is None:
            return await handler(event, data)
        if update_id in self._seen:
            self.skipped += 1
            log.info("Update %s delivered again: skipped", update_id)
            return None
        result = await handler(event, data)
        # Only after success: a failed update must be handled again when redelivered.
        self._seen[update_id] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return result


def _update_id(event: TelegramObject) -> int | None:
    return event.update_id if isinstance(event, Update) else None
