"""Turning a service `Reply` into Telegram calls, and answering callbacks promptly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import CallbackQuery, ReplyKeyboardRemove

from bot.services.texts import t
from bot.services.types import OutMessage, Prospect, Reply
from bot.telegram.middlewares import AnswerOnce, current_answer_once
from bot.telegram.rendering import contact_keyboard, html_text, inline_keyboard

log = logging.getLogger(__name__)

NoteMessage = Callable[[Prospect, int], Awaitable[None]]


def _markup(msg: OutMessage, share_label: str) -> Any:
    if msg.request_contact:
        extra = [b.label for row in msg.buttons for b in row if not b.url]
        return contact_keyboard(share_label, extra)
    if msg.buttons:
        return inline_keyboard(msg.buttons)
    if msg.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


async def send_reply(
    bot: Bot,
    prospect: Prospect,
    reply: Reply,
    *,
    note_message: NoteMessage | None = None,
    pressed_message_id: int | None = None,
) -> None:
    """Edit the answered question (to show the choice), then send the messages in order."""
    if reply.duplicate:
        return
    chat_id = prospect.chat_id
    edit = reply.edit_previous
    if edit is not None:
        message_id = edit.message_id or pressed_message_id
        if message_id is not None:
            try:
                await bot.edit_message_text(
                    chat_id=chat_id,
                    message_id=message_id,
                    text=html_text(edit.text),
                    reply_markup=inline_keyboard(edit.buttons),
                )
            except TelegramBadRequest as exc:
                # Too old to edit, deleted, or a message with a reply keyboard: cosmetic only.
                log.debug("Could not edit message %s: %s", message_id, exc.message)
    share_label = t(reply.lang or prospect.language_code, "button_share_phone")
    for msg in reply.messages:
        sent = await bot.send_message(
            chat_id=chat_id, text=html_text(msg.text), reply_markup=_markup(msg, share_label)
        )
        if note_message is not None and msg.kind in ("question", "reask"):
            await note_message(prospect, sent.message_id)


class PromptAnswer:
    """Answer a callback query within `budget` seconds whatever happens.

    The service's notice ("That question is already answered") is shown when the
    work finishes in time; otherwise an empty answer stops the button's spinner
    at the deadline and the notice is dropped (a callback is answered once).
    `once` is the update's AnswerOnce (by default ErrorIsolation's, for the update
    being handled), shared across its retries: a retry after the first attempt (or
    its deadline) answered does not answer again.
    """

    def __init__(
        self, bot: Bot, query: CallbackQuery, budget: float = 1.5, once: AnswerOnce | None = None
    ) -> None:
        self.bot = bot
        self.query = query
        self.once = once or current_answer_once() or AnswerOnce()
        self._timer = asyncio.create_task(self._deadline(budget))

    @property
    def answered(self) -> bool:
        return self.once.answered

    async def _deadline(self, budget: float) -> None:
        await asyncio.sleep(budget)
        await self._answer(None, False)

    async def _answer(self, text: str | None, alert: bool) -> None:
        if not self.once.claim():
            return
        try:
            await self.bot.answer_callback_query(
                self.query.id, text=text or None, show_alert=alert or None
            )
        except TelegramAPIError as exc:
            log.info("Callback %s not answered: %s", self.query.id, exc)

    def _stop_timer(self) -> None:
        # Once the deadline answered, its request may still be in flight: let it finish.
        if not self.answered:
            self._timer.cancel()

    async def done(self, text: str | None = None, *, alert: bool = False) -> None:
        self._stop_timer()
        await self._answer(text, alert)

    async def __aenter__(self) -> PromptAnswer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        # On an error the middleware answers with an apology; otherwise stop the spinner.
        self._stop_timer()
        if exc[0] is None:
            await self._answer(None, False)
