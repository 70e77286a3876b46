"""What the routers need, in one object the app factory builds.

The Protocols spell out exactly which service calls the Telegram side makes
(docs/ARCHITECTURE.md, "bot/services"), so a test can pass a fake and a change
on either side shows up in one place.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.services.types import Actor, CardActionReply, CardView, Prospect, Reply
from bot.telegram.sales_chat import SalesChat


class InterviewPort(Protocol):
    async def start(
        self, prospect: Prospect, payload: str | None = None, *, update_id: int | None = None
    ) -> Reply: ...
    async def text(
        self,
        prospect: Prospect,
        text: str,
        *,
        update_id: int | None = None,
        sent_at: float | None = None,
        check_relay: bool = False,
    ) -> Reply: ...
    async def option(
        self,
        prospect: Prospect,
        token: str,
        *,
        update_id: int | None = None,
        message_id: int | None = None,
    ) -> Reply: ...
    async def restart(self, prospect: Prospect, *, update_id: int | None = None) -> Reply: ...
    async def cancel(self, prospect: Prospect, *, update_id: int | None = None) -> Reply: ...
    async def stop(self, prospect: Prospect, *, update_id: int | None = None) -> Reply: ...
    async def set_language(
        self, prospect: Prospect, lang: str | None = None, *, update_id: int | None = None
    ) -> Reply: ...
    async def contact(
        self, prospect: Prospect, phone: str, *, update_id: int | None = None
    ) -> Reply: ...
    async def forget(self, prospect: Prospect, *, update_id: int | None = None) -> Reply: ...
    async def current(self, prospect: Prospect) -> Reply: ...
    async def note_message(self, prospect: Prospect, message_id: int) -> None: ...
    def privacy(self, lang: str | None) -> Reply: ...
    def help(self, lang: str | None) -> Reply: ...


class HandoffPort(Protocol):
    async def press(
        self, actor: Actor, token: str, *, update_id: int | None = None
    ) -> CardActionReply: ...
    async def card(self, handoff_id: int) -> CardView | None: ...
    async def card_target(self, handoff_id: int) -> tuple[int, int | None] | None: ...


def _nothing() -> None:
    return None


async def _ignore(chat_id: int) -> None:
    return None


@dataclass
class Deps:
    interview: InterviewPort
    handoff: HandoffPort
    sales_chat: SalesChat
    admin_ids: frozenset[int] = frozenset()
    wake_outbox: Callable[[], None] = _nothing  # a card or a message was queued: send now
    # The prospect blocked / unblocked the bot (RetryMiddleware.mark_blocked / mark_returned).
    on_blocked: Callable[[int], Awaitable[None]] = _ignore
    on_returned: Callable[[int], Awaitable[None]] = _ignore
    callback_budget: float = 1.5  # seconds before a callback is answered empty
    nudge_every: float = 5.0  # at most one "text only, please" per chat this often
    member_ttl: float = 60.0  # cache of sales chat membership (getChatMember)
    clock: Callable[[], float] = field(default=time.monotonic)
    # Set by the relay router: relay a prospect's typed message to sales, called with
    # (message, bot, update_id) when InterviewService.text says Reply.relayed.
    relay_prospect: Callable[..., Awaitable[None]] | None = None
