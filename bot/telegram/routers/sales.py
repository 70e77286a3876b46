"""Sales card buttons: Take, Qualified, Not a fit (with a reason), Nurture.

Who may press: admins (ADMIN_IDS) and members of the sales chat, checked with
getChatMember and cached for a minute (a channel's subscribers are not sales
people, so there only its administrators count). The service decides what a
press does and refuses anyone else; every press is answered at once, refusals
with an alert. The card is then edited in place with the service's HTML.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import CallbackQuery, Message, Update

from bot.services.types import Actor, CardActionReply
from bot.telegram.deps import Deps
from bot.telegram.rendering import inline_keyboard
from bot.telegram.replies import PromptAnswer
from bot.telegram.texts import say

log = logging.getLogger(__name__)

CARD_PREFIX = "h:"
MEMBER = frozenset(
    {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)
ADMINS = frozenset({ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR})


class Membership:
    """Is a user in the sales chat? getChatMember, cached (yes and no alike) for `ttl`."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._cache: dict[tuple[int, int], tuple[float, bool]] = {}

    async def check(self, bot: Bot, user_id: int, *, channel: bool) -> bool:
        chat_id = self.deps.sales_chat.chat_id
        now = self.deps.clock()
        hit = self._cache.get((chat_id, user_id))
        if hit is not None and now - hit[0] < self.deps.member_ttl:
            return hit[1]
        try:
            member = await bot.get_chat_member(chat_id=chat_id, user_id=user_id)
        except TelegramAPIError as exc:
            # "user not found", or the bot itself is no longer in the chat: not a member.
            log.info("getChatMember(%s, %s) failed: %s", chat_id, user_id, exc)
            return False
        allowed = ADMINS if channel else MEMBER
        ok = member.status in allowed or (
            member.status == ChatMemberStatus.RESTRICTED
            and bool(getattr(member, "is_member", False))
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(chat_id, user_id)] = (now, ok)
        return ok


def create_sales_router(deps: Deps) -> Router:
    router = Router(name="sales")
    membership = Membership(deps)

    @router.callback_query(F.data.startswith(CARD_PREFIX))
    async def card_button(query: CallbackQuery, bot: Bot, event_update: Update) -> None:
        user = query.from_user
        message = query.message
        async with PromptAnswer(bot, query, deps.callback_budget) as answer:
            is_admin = user.id in deps.admin_ids
            in_sales_chat = message is not None and deps.sales_chat.is_sales(message.chat.id)
            is_member = False
            if in_sales_chat and not is_admin:
                channel = message is not None and message.chat.type == ChatType.CHANNEL
                is_member = await membership.check(bot, user.id, channel=channel)
            actor = Actor(
                user_id=user.id,
                name=user.full_name,
                username=user.username,
                is_admin=is_admin,
                # A card pressed anywhere but the sales chat is not a sales action.
                is_sales_member=is_member,
            )
            reply = await deps.handoff.press(
                actor, query.data or "", update_id=event_update.update_id
            )
            await answer.done(reply.notice, alert=reply.alert)
            if reply.duplicate:
                return
            await show(bot, message if isinstance(message, Message) else None, reply, query.data)
            if reply.changed:
                deps.wake_outbox()  # the prospect is told who will write

    async def show(bot: Bot, message: Message | None, reply: CardActionReply, token: Any) -> None:
        if message is None:
            return
        shown = deps.sales_chat.shown
        handoff_id = _handoff_of(token)
        try:
            if reply.card is not None:
                card = reply.card
                if handoff_id is not None and shown.same(handoff_id, card.html, card.buttons):
                    return  # nothing changed (e.g. "Take" on a card already yours)
                await bot.edit_message_text(
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    text=card.html,
                    reply_markup=inline_keyboard(card.buttons),
                )
                if handoff_id is not None:
                    shown.remember(handoff_id, card.html, card.buttons)
            elif reply.ask_reason is not None:
                await bot.edit_message_reply_markup(
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    reply_markup=inline_keyboard(reply.ask_reason),
                )
                if handoff_id is not None:
                    shown.forget(handoff_id)  # the buttons differ from any card view now
        except TelegramBadRequest as exc:
            log.warning("Card not updated after %r: %s", token, exc.message)

    return router


def _handoff_of(token: Any) -> int | None:
    from bot.services.tokens import TokenError, decode

    try:
        return decode(str(token)).handoff_id
    except TokenError:
        return None


def create_fallback_router() -> Router:
    """Last in line: a button nobody handled (not ours, or from an old bot) still gets
    its spinner stopped with a polite word."""
    router = Router(name="fallback")

    @router.callback_query()
    async def unknown_button(query: CallbackQuery, bot: Bot) -> None:
        await bot.answer_callback_query(
            query.id, text=say("sales_unknown_button", query.from_user.language_code)
        )

    return router
