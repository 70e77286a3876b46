"""Pacing sends to Telegram's limits.

Telegram's published limits: about 30 messages a second in all, about one a
second per chat (short bursts tolerated), and 20 a minute into one group. The
first two are sliding windows (at most N in any W seconds); groups get a token
bucket of one, which spaces cards evenly (one every 3 s) instead of letting 20
out at once and then nothing for a minute. The
pacer sits in the session middleware chain, so every send and edit is paced,
whoever makes it (a handler, the outbox worker): a card edited after "Take"
and the next card share the sales group's budget.

Clock and sleep are injectable; tests pass a fake clock whose sleep advances it
and scale the limits, so pacing 50 cards at 20 a minute takes no real time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.methods import SendChatAction, TelegramMethod

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

EPSILON = 1e-9
MIN_WAIT = 1e-6


@dataclass(frozen=True)
class Limits:
    # (messages, seconds): at most that many in any window of that length.
    overall: tuple[int, float] = (30, 1.0)
    # A private chat: about one a second, with room for a reply that edits the answered
    # question and asks the next one.
    chat: tuple[int, float] = (3, 3.0)
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
    ) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        self.sleep = sleep
        self._overall = SlidingWindow(*self.limits.overall)
        self._chats: dict[int | str, Limiter] = {}

    def _bucket(self, chat_id: int | str, now: float) -> Limiter:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) >= self.PRUNE_AT:
                self._prune(now)
            limits = self.limits
            if _is_group(chat_id):
                bucket = TokenBucket(limits.group_per_minute / 60.0, 1.0, now)
            else:
                bucket = SlidingWindow(*limits.chat)
            self._chats[chat_id] = bucket
        return bucket

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._chats.items() if b.idle(now)]:
            del self._chats[key]

    async def acquire(self, chat_id: int | str | None) -> float:
        """Take a token for one message to `chat_id` (None: overall only); the time waited."""
        waited = 0.0
        while True:
            now = self.clock()
            chat = None if chat_id is None else self._bucket(chat_id, now)
            wait = self._overall.wait_time(now)
            if chat is not None:
                wait = max(wait, chat.wait_time(now))
            if wait <= 0:
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
        if _paced(method):
            chat_id = getattr(method, "chat_id", None)
            await self.pacer.acquire(chat_id if isinstance(chat_id, int | str) else None)
        return await make_request(bot, method)
