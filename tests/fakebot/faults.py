"""Fault switches and Telegram-like rate limits for the fake Bot API."""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, forbidden, retry_after

Clock = Callable[[], float]

FAULT_KINDS = ("retry_after", "server_error", "drop", "delay", "blocked", "error")


class ManualClock:
    """A clock a test moves by hand: ``clock.advance(1.5)``."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class Fault:
    """One fault switch.

    kind:
      ``retry_after``  429 with ``parameters.retry_after`` = ``retry_after``;
      ``server_error`` ``status`` (500 or 502...) with Telegram's description;
      ``drop``         close the connection without an answer (``after=True``: do the
                       method first, then drop, so the bot does not learn it succeeded);
      ``delay``        wait ``delay`` seconds, then answer normally;
      ``blocked``      403 "Forbidden: bot was blocked by the user";
      ``error``        any answer: ``status`` and ``description`` (``parameters`` too).

    Matching: ``method`` (case-insensitive; None = every method except getUpdates,
    unless ``include_polling``), ``chat_id`` (None = any), ``token`` (None = any bot).
    Firing: ``times`` = the next N matching calls (None = every one), and/or
    ``probability`` drawn from the server's seeded RNG. ``hits`` counts firings.
    """

    kind: str
    method: str | None = None
    chat_id: int | str | None = None
    token: str | None = None
    times: int | None = 1
    probability: float | None = None
    retry_after: int = 1
    status: int = 500
    description: str | None = None
    parameters: dict[str, Any] | None = None
    delay: float = 0.0
    after: bool = False
    include_polling: bool = False
    hits: int = 0
    id: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        if self.method is not None:
            self.method = self.method.lower()

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, token: str, chat_id: Any) -> bool:
        if self.exhausted:
            return False
        if self.method is None:
            if method == "getupdates" and not self.include_polling:
                return False
        elif self.method != method:
            return False
        if self.token is not None and self.token != token:
            return False
        return self.chat_id is None or str(self.chat_id) == str(chat_id)

    def error(self) -> ApiError:
        if self.kind == "retry_after":
            return retry_after(self.retry_after)
        if self.kind == "blocked":
            return forbidden(self.description or "bot was blocked by the user")
        if self.kind == "server_error":
            text = self.description or {
                500: "Internal Server Error",
                502: "Bad Gateway",
                503: "Service Unavailable",
                504: "Gateway Timeout",
            }.get(self.status, "Internal Server Error")
            return ApiError(self.status, text, parameters=self.parameters, problem=False)
        return ApiError(
            self.status,
            self.description or "Internal Server Error",
            parameters=self.parameters,
            problem=False,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "chat_id": self.chat_id,
            "times": self.times,
            "probability": self.probability,
            "retry_after": self.retry_after,
            "status": self.status,
            "description": self.description,
            "delay": self.delay,
            "after": self.after,
            "hits": self.hits,
        }


class FaultSet:
    """The active fault switches, checked in the order they were added."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.items: list[Fault] = []
        self._next_id = 1

    def add(self, fault: Fault) -> Fault:
        fault.id = self._next_id
        self._next_id += 1
        self.items.append(fault)
        return fault

    def remove(self, fault: Fault | int) -> None:
        fault_id = fault if isinstance(fault, int) else fault.id
        self.items = [f for f in self.items if f.id != fault_id]

    def clear(self) -> None:
        self.items.clear()

    def pick(self, method: str, token: str, chat_id: Any) -> list[Fault]:
        """The faults that fire for this call (a delay can precede an error)."""
        if not self.items:
            return []
        fired: list[Fault] = []
        for fault in self.items:
            if not fault.matches(method, token, chat_id):
                continue
            if fault.probability is not None and self.rng.random() >= fault.probability:
                continue
            fault.hits += 1
            fired.append(fault)
            if fault.kind != "delay":
                break
        return fired


@dataclass
class RateLimits:
    """Sliding-window limits; each is (messages, seconds) or None (off).

    ``per_chat`` applies to private chats, ``per_group`` to groups and supergroups,
    ``per_bot`` to everything one bot sends. ``retry_after`` fixes the reported wait
    (else the real wait, rounded up to whole seconds, at least 1: aiogram wants an int).
    """

    per_chat: tuple[int, float] | None = None
    per_group: tuple[int, float] | None = None
    per_bot: tuple[int, float] | None = None
    retry_after: int | None = None
    methods: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {
                "sendmessage",
                "senddocument",
                "sendphoto",
                "copymessage",
                "forwardmessage",
                "editmessagetext",
                "editmessagereplymarkup",
                "editmessagecaption",
                "sendsticker",
                "sendmediagroup",
            }
        )
    )

    @classmethod
    def telegram(cls, scale: float = 1.0, retry_after: int | None = None) -> RateLimits:
        """Telegram's published limits, windows multiplied by ``scale``: a burst of 3 then
        about 1 a second per chat, 20 a minute per group, 30 a second per bot."""
        return cls(
            per_chat=(3, 3.0 * scale),
            per_group=(20, 60.0 * scale),
            per_bot=(30, 1.0 * scale),
            retry_after=retry_after,
        )

    @property
    def active(self) -> bool:
        return bool(self.per_chat or self.per_group or self.per_bot)


class RateLimiter:
    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.limits = RateLimits()
        self._windows: dict[tuple[Any, ...], deque[float]] = {}

    def configure(self, limits: RateLimits) -> None:
        self.limits = limits
        self._windows.clear()

    def check(self, method: str, token: str, chat_id: int | None, is_group: bool) -> None:
        """Raise a 429 ``ApiError`` when this send would go over a limit, else count it."""
        limits = self.limits
        if not limits.active or method not in limits.methods:
            return
        now = self.clock()
        keys: list[tuple[tuple[Any, ...], tuple[int, float]]] = []
        if limits.per_bot:
            keys.append((("bot", token), limits.per_bot))
        if chat_id is not None:
            if is_group and limits.per_group:
                keys.append((("group", token, chat_id), limits.per_group))
            elif not is_group and limits.per_chat:
                keys.append((("chat", token, chat_id), limits.per_chat))
        wait = 0.0
        for key, (count, window) in keys:
            stamps = self._windows.get(key)
            if stamps is None:
                continue
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= count:
                wait = max(wait, stamps[0] + window - now)
        if wait > 0:
            seconds = limits.retry_after or max(1, math.ceil(wait))
            raise retry_after(seconds)
        for key, _ in keys:
            self._windows.setdefault(key, deque()).append(now)
