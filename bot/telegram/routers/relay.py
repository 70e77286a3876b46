"""The relay between a salesperson and a prospect, once the lead is taken
(bot/services/relay.py decides; this sends).

- In the sales chat: a text replying to a bot message of a lead's thread (any
  card of the lead, also one the SLA timer raised again, or a relayed message
  of the prospect) goes to that prospect, signed. Nothing else in the sales
  chat is handled here.
- In a private chat: a prospect's text (not a command) while sales has the lead
  goes to the sales chat as a reply to the card, not to the interview. No filter
  here (that was a query per typed message): the prospect router's text handler
  asks InterviewService.text(check_relay=True), whose one read of the lead also
  tells whether sales has it (then nothing is written and Reply.relayed is set),
  and calls `deps.relay_prospect`, which this router sets.

Both directions pass the update id: the service records the relay with the
update's processed mark before anything is sent, so a redelivered update is
not relayed twice (also by another process, or after a restart).
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import Message, ReplyParameters, Update

from bot.services.types import Actor
from bot.telegram.deps import Deps
from bot.telegram.rendering import clip

log = logging.getLogger(__name__)


def create_relay_router(deps: Deps) -> Router | None:
    svc = deps.interview
    if not hasattr(svc, "db"):  # a test's fake interview port
        return None
    from bot.services.relay import RelayService

    relay = RelayService(svc.db, config=svc.config, clock=svc.clock)  # type: ignore[attr-defined]
    router = Router(name="relay")

    def in_sales_chat(message: Message) -> bool:
        return deps.sales_chat.is_sales(message.chat.id)

    @router.message(
        F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}),
        F.reply_to_message,
        F.text,
        in_sales_chat,
    )
    async def from_sales(message: Message, bot: Bot, event_update: Update) -> None:
        user = message.from_user
        reply_to = message.reply_to_message
        if user is None or user.is_bot or reply_to is None or message.text is None:
            return
        if reply_to.from_user is not None and not reply_to.from_user.is_bot:
            return  # a reply to a colleague, not to a card
        sender = Actor(user_id=user.id, name=user.first_name, username=user.username)
        result = await relay.from_sales(
            message.chat.id,
            reply_to.message_id,
            sender,
            message.text,
            update_id=event_update.update_id,
            message_id=message.message_id,
        )
        if result.status == "sent" and result.out is not None:
            try:
                await bot.send_message(result.out.chat_id, clip(result.out.text), parse_mode=None)
            except (TelegramForbiddenError, TelegramBadRequest) as exc:
                log.info("Relay to the prospect failed: %s", exc.message)
                await notice(bot, message, relay_unreachable())
        elif result.notice:
            await notice(bot, message, result.notice)

    def relay_unreachable() -> str:
        from bot.services.texts import t

        return t(svc.config.sales_lang, "relay_unreachable")  # type: ignore[attr-defined]

    async def notice(bot: Bot, message: Message, text: str) -> None:
        await bot.send_message(
            message.chat.id,
            text,
            parse_mode=None,
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
        )

    async def from_prospect(message: Message, bot: Bot, update_id: int) -> None:
        assert message.from_user is not None and message.text is not None
        out = await relay.from_prospect(message.from_user.id, message.text, update_id=update_id)
        if out is None:
            return  # the relay just ended, or this update was relayed already
        chat_id = deps.sales_chat.resolve(out.chat_id)
        kwargs: dict[str, Any] = {}
        thread = deps.sales_chat.thread_for(chat_id)
        if thread is not None:
            kwargs["message_thread_id"] = thread
        sent = await bot.send_message(
            chat_id,
            clip(out.text),
            parse_mode=None,
            reply_parameters=ReplyParameters(
                message_id=out.reply_to_message_id or 0, allow_sending_without_reply=True
            ),
            **kwargs,
        )
        await relay.sent(out, sent.chat.id, sent.message_id)

    deps.relay_prospect = from_prospect
    return router
