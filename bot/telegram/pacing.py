"""Pacing sends to Telegram's limits.

Telegram's published limits: about 30 messages a second in all, about one a
second per chat (short bursts tolerated), and 20 a minute into one group. The
first two are sliding windows (at most N in any W seconds); groups get a token
bucket of one, which spaces cards evenly (one every 3 s) instead of letting 20
out at once and then nothing for a minute. The
pacer sits in the session middleware chain, so every send and edit is paced,
whoever makes it (a handler, the outbox worker): a card edited after "Take"
and the next card share the sales group's budget.

Several processes: Telegram counts a group's messages per bot, not per process,
so with a `shared` budget (storage/rate_slots.py, on PostgreSQL) a group's one
message every 3 s is claimed in the database instead of in memory, and a 429
from a group holds that group for every process. Private chats stay in memory:
one prospect's updates are handled by one process at a time (the chat lock), and
a database trip per private message would cost more than it saves. The overall
30 a second stays per process too (see the README's deployment notes).

Clock and sleep are injectable; tests pass a fake clock whose sleep advances it
and scale the limits, so pacing 50 cards at 20 a minute takes no real time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendChatAction, TelegramMethod

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class SharedBudget(Protocol):
    """A send budget shared by the processes (storage.rate_slots.SharedRate)."""

    async def take(self, key: str, interval: float, *, burst: int = 0) -> float:
        """0.0 when a send was claimed, else the seconds to wait before asking again."""
        ...

    async def hold(self, key: str, seconds: float) -> None: ...


EPSILON = 1e-9
MIN_WAIT = 1e-6


@dataclass(frozen=True)
class Limits:
    # (messages, seconds): at most that many in any window of that length.
    overall: tuple[int, float] | None = (30, 1.0)
    # A private chat: about one a second, with room for a reply that edits the answered
    # question and asks the next one.
    chat: tuple[int, float] | None = (3, 3.0)
    # A group: evenly spaced (one every 3 s), so never more than 20 in any minute.
    group_per_minute: float = 20.0


class TokenBucket:
    """`rate` tokens a second, holding at most `capacity`; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_time(self, now: float) -> float:
        self._refill(now)
        # A hair short of a token counts as one: otherwise rounding leaves a wait too
        # small to move the clock at all, and the waiters spin.
        if self.tokens >= 1.0 - EPSILON:
            return 0.0
        return max((1.0 - self.tokens) / self.rate, MIN_WAIT)

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0

    def idle(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


class SlidingWindow:
    """At most `count` takes in any `window` seconds (exact, unlike a bucket, which
    lets a full burst and its refill through in one window)."""

    __slots__ = ("count", "stamps", "window")

    def __init__(self, count: int, window: float) -> None:
        self.count = max(1, count)
        self.window = window
        self.stamps: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.stamps and self.stamps[0] <= now - self.window:
            self.stamps.popleft()

    def wait_time(self, now: float) -> float:
        self._expire(now)
        if len(self.stamps) < self.count:
            return 0.0
        return max(self.stamps[0] + self.window - now, MIN_WAIT)

    def take(self, now: float) -> None:
        self.stamps.append(now)

    def idle(self, now: float) -> bool:
        self._expire(now)
        return not self.stamps


Limiter = TokenBucket | SlidingWindow


class Pacer:
    """Wait until the overall, the chat's and (for groups) the group's budget allow a send."""

    PRUNE_AT = 2000  # chat buckets kept before full (idle) ones are dropped

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        shared: SharedBudget | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        self.sleep = sleep
        self.shared = shared
        overall = self.limits.overall
        self._overall = SlidingWindow(*overall) if overall else None
        self._chats: dict[int | str, Limiter] = {}
        # One task per group asks the database at a time (FIFO): this process's group
        # sends keep their order, and only one of them polls the shared row.
        self._group_turns: dict[int | str, asyncio.Lock] = {}

    def _bucket(self, chat_id: int | str, now: float) -> Limiter:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) >= self.PRUNE_AT:
                self._prune(now)
            limits = self.limits
            if _is_group(chat_id):
                bucket = TokenBucket(limits.group_per_minute / 60.0, 1.0, now)
            else:
                bucket = SlidingWindow(*(limits.chat or (1, 0.0)))
            self._chats[chat_id] = bucket
        return bucket

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._chats.items() if b.idle(now)]:
            del self._chats[key]

    async def acquire(self, chat_id: int | str | None) -> float:
        """Take a token for one message to `chat_id` (None: overall only); the time waited."""
        if self.shared is not None and chat_id is not None and _is_group(chat_id):
            waited = await self._take_shared(chat_id)
            if waited is not None:
                # The group's slot is ours; the overall budget (per process) comes after,
                # so its stamp is the time of the send. It rarely makes us wait.
                return waited + await self._take_local(None)
        return await self._take_local(chat_id)

    async def _take_shared(self, chat_id: int | str) -> float | None:
        """The group's next slot from the shared budget; the time waited, or None when
        the database failed (then the in-process bucket paces this send)."""
        assert self.shared is not None
        interval = 60.0 / self.limits.group_per_minute
        turn = self._group_turns.setdefault(chat_id, asyncio.Lock())
        waited = 0.0
        async with turn:
            while True:
                try:
                    wait = await self.shared.take(f"group:{chat_id}", interval)
                except Exception as exc:
                    log.warning("Shared pacing of %s failed (%s): pacing locally", chat_id, exc)
                    return None
                if wait <= 0:
                    # The local bucket follows along, ready if the database goes away.
                    self._bucket(chat_id, self.clock()).take(self.clock())
                    return waited
                waited += wait
                await self.sleep(wait)

    async def hold(self, chat_id: int | str, seconds: float) -> None:
        """Telegram refused a send to a group for `seconds` (429): no group message
        until then, from this process or (with a shared budget) any other."""
        if not _is_group(chat_id):
            return
        now = self.clock()
        bucket = self._bucket(chat_id, now)
        if isinstance(bucket, TokenBucket):
            bucket.tokens = min(bucket.tokens, 1.0 - seconds * bucket.rate)
            bucket.stamp = now
        if self.shared is not None:
            try:
                await self.shared.hold(f"group:{chat_id}", seconds)
            except Exception as exc:
                log.warning("Holding chat %s in the shared budget failed (%s)", chat_id, exc)

    async def _take_local(self, chat_id: int | str | None) -> float:
        waited = 0.0
        while True:
            now = self.clock()
            chat = None
            if chat_id is not None and (self.limits.chat is not None or _is_group(chat_id)):
                chat = self._bucket(chat_id, now)
            wait = self._overall.wait_time(now) if self._overall is not None else 0.0
            if chat is not None:
                wait = max(wait, chat.wait_time(now))
            if wait <= 0:
                if self._overall is not None:
                    self._overall.take(now)
                if chat is not None:
                    chat.take(now)
                return waited
            # Re-check after sleeping: another task may have taken the token meanwhile.
            waited += wait
            await self.sleep(wait)


def _is_group(chat_id: int | str) -> bool:
    # Groups, supergroups and channels have negative ids; "@name" is a public channel.
    return isinstance(chat_id, str) or chat_id < 0


def _paced(method: TelegramMethod[Any]) -> bool:
    """New messages always; edits only in groups. An edit in a private chat answers the
    prospect's own press (the question showing the choice): the prospect's pace bounds
    it, and pacing it would only delay the next question."""
    name = type(method).__name__
    if isinstance(method, SendChatAction):
        return False
    if name.startswith("Edit"):
        chat_id = getattr(method, "chat_id", None)
        return chat_id is not None and _is_group(chat_id)
    return name.startswith(("Send", "Copy", "Forward"))


class PacingMiddleware(BaseRequestMiddleware):
    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        chat: int | str | None = None
        if _paced(method):
            chat_id = getattr(method, "chat_id", None)
            chat = chat_id if isinstance(chat_id, int | str) else None
            await self.pacer.acquire(chat)
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as exc:
            if chat is not None:
                await self.pacer.hold(chat, float(exc.retry_after))
            raise
