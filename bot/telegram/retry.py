"""Session-level request middleware: every Bot API call goes through it.

aiogram does not retry. Here:
- 429 (TelegramRetryAfter): wait `retry_after` and try again, up to a cap; the
  outbox worker opts out (`flood_wait_disabled()`) because it reschedules the
  row in the database instead of holding it in memory.
- 5xx and network errors: exponential backoff with a cap on delay and attempts.
  A sendMessage whose answer was lost may have been delivered; Telegram offers
  no idempotency key, so a retry can duplicate it. We accept that (at least
  once) rather than lose a message.
- "message is not modified" and "query is too old": harmless, answered True.
- TelegramMigrateToChat for the sales chat: follow it (SalesChat), tell the
  hooks so the new id is persisted, and resend to the new chat.
- 403 from a private chat: the prospect blocked the bot. Tell the hooks (the
  lead is marked blocked), remember the chat and refuse further sends to it
  locally until the prospect writes again.

All waiting goes through an injectable `sleep`, so tests run at full speed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, GetUpdates, TelegramMethod
from aiogram.methods.base import Response

from bot.telegram.sales_chat import SalesChat

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

HARMLESS_EDIT = ("message is not modified",)
HARMLESS_CALLBACK = ("query is too old", "query id is invalid")

_flood_wait_disabled: ContextVar[bool] = ContextVar("qualibot_flood_wait_disabled", default=False)

# aiogram parses every answer with `Response[method.__returning__]`; pydantic caches
# parametrised generics only weakly, so between calls the class was often collected
# and rebuilt (a whole model schema: ~9% of the bot's CPU). Strong references here.
_RESPONSE_TYPES: dict[Any, Any] = {}


def keep_response_type(method: TelegramMethod[Any]) -> None:
    """Make aiogram's `Response[...]` class for this method's result live for good."""
    returning = method.__returning__
    if returning not in _RESPONSE_TYPES:
        _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]


@contextmanager
def flood_wait_disabled() -> Iterator[None]:
    """Within this block a 429 is raised at once instead of waited out (the caller
    reschedules). Context variables follow tasks, so only this task is affected."""
    token = _flood_wait_disabled.set(True)
    try:
        yield
    finally:
        _flood_wait_disabled.reset(token)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # tries in all for 5xx / network errors
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_flood_waits: int = 5  # 429s waited out per call
    max_retry_after: float = 120.0  # a longer wait is not waited: raised instead
    jitter: float = 0.1  # +-10% so many callers do not retry in lockstep

    def backoff(self, attempt: int) -> float:
        delay = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return delay * (1 + random.uniform(-self.jitter, self.jitter))


class FaultHooks(Protocol):
    async def prospect_blocked(self, chat_id: int) -> None: ...
    async def prospect_returned(self, chat_id: int) -> None: ...
    async def sales_chat_migrated(self, old_id: int, new_id: int) -> None: ...


def _chat_id(method: TelegramMethod[Any]) -> int | str | None:
    return getattr(method, "chat_id", None)


def _is_private(chat_id: int | str | None) -> bool:
    # Private chats (users) have positive ids; groups and channels are negative.
    return isinstance(chat_id, int) and chat_id > 0


class RetryMiddleware(BaseRequestMiddleware):
    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        sales_chat: SalesChat | None = None,
        hooks: FaultHooks | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.sales_chat = sales_chat
        self.hooks = hooks
        self.blocked: set[int] = set()

    async def mark_blocked(self, chat_id: int) -> None:
        """The prospect blocked the bot (a 403, or Telegram's my_chat_member "kicked")."""
        await self._blocked(chat_id)

    async def mark_returned(self, chat_id: int) -> None:
        """The prospect unblocked the bot or wrote again: sending is allowed again."""
        self.blocked.discard(chat_id)
        if self.hooks is not None:
            try:
                await self.hooks.prospect_returned(chat_id)
            except Exception:
                log.exception("Could not unmark chat %s as blocked", chat_id)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        keep_response_type(method)
        policy = self.policy
        failures = 0
        flood_waits = 0
        while True:
            chat_id = _chat_id(method)
            if isinstance(chat_id, int) and chat_id in self.blocked:
                raise TelegramForbiddenError(
                    method=method, message="Forbidden: bot was blocked by the user (remembered)"
                )
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if (
                    _flood_wait_disabled.get()
                    or flood_waits >= policy.max_flood_waits
                    or exc.retry_after > policy.max_retry_after
                ):
                    raise
                flood_waits += 1
                log.warning(
                    "429 on %s (chat %s): waiting %s s", _name(method), chat_id, exc.retry_after
                )
                await self.sleep(float(exc.retry_after))
            except TelegramEntityTooLarge:
                raise  # a network-error subclass, but retrying cannot help
            except (TelegramServerError, TelegramNetworkError) as exc:
                failures += 1
                if failures >= policy.max_attempts or isinstance(method, GetUpdates):
                    # getUpdates has aiogram's own backoff loop around it.
                    raise
                delay = policy.backoff(failures)
                log.warning(
                    "%s on %s, retry %d/%d in %.2f s",
                    type(exc).__name__,
                    _name(method),
                    failures,
                    policy.max_attempts - 1,
                    delay,
                )
                await self.sleep(delay)
            except TelegramBadRequest as exc:
                text = exc.message.lower()
                if any(s in text for s in HARMLESS_EDIT) and _name(method).startswith("Edit"):
                    return True
                if isinstance(method, AnswerCallbackQuery) and any(
                    s in text for s in HARMLESS_CALLBACK
                ):
                    log.info("Callback query answered too late; ignored")
                    return True
                raise
            except TelegramMigrateToChat as exc:
                method = await self._migrate(method, exc)
            except TelegramForbiddenError:
                if _is_private(chat_id):
                    await self._blocked(int(chat_id))  # type: ignore[arg-type]
                elif self.sales_chat is not None and self.sales_chat.is_sales(chat_id):
                    log.error(
                        "Telegram refuses %s in the sales chat %s: is the bot still a member "
                        "with the right to post?",
                        _name(method),
                        chat_id,
                    )
                raise

    async def _migrate(
        self, method: TelegramMethod[Any], exc: TelegramMigrateToChat
    ) -> TelegramMethod[Any]:
        old = _chat_id(method)
        new = exc.migrate_to_chat_id
        if self.sales_chat is None or not isinstance(old, int) or not self.sales_chat.is_sales(old):
            raise exc
        if self.sales_chat.migrate(old, new) and self.hooks is not None:
            try:
                await self.hooks.sales_chat_migrated(old, new)
            except Exception:
                log.exception("Could not save the sales chat's new id %s", new)
        # Resend to the new chat; a topic id does not survive a group migration.
        update: dict[str, Any] = {"chat_id": self.sales_chat.chat_id}
        if getattr(method, "message_thread_id", None) is not None:
            update["message_thread_id"] = self.sales_chat.thread_for(self.sales_chat.chat_id)
        return method.model_copy(update=update)

    async def _blocked(self, chat_id: int) -> None:
        first = chat_id not in self.blocked
        self.blocked.add(chat_id)
        if first:
            log.info("Prospect chat %s blocked the bot: no more messages to it", chat_id)
            if self.hooks is not None:
                try:
                    await self.hooks.prospect_blocked(chat_id)
                except Exception:
                    log.exception("Could not mark chat %s as blocked", chat_id)


def _name(method: TelegramMethod[Any]) -> str:
    return type(method).__name__
