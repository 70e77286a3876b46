"""The prospect's side: private chats only.

Every handler turns the update into one service call (with the update id, so
a redelivery is applied once) and sends what the service says. Typed answers,
button presses, commands and shared contacts all go the same way; content the
bot cannot read (stickers, photos, voice, ...) gets a short nudge back to the
current question, at most once every few seconds per chat so a flood is not
answered message for message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, Update, User

from bot.services.types import Prospect, Reply
from bot.telegram.deps import Deps
from bot.telegram.middlewares import AnswerOnce
from bot.telegram.polling import crash_point
from bot.telegram.replies import PromptAnswer, send_reply
from bot.telegram.texts import say

log = logging.getLogger(__name__)

PRIVATE = F.chat.type == ChatType.PRIVATE


def prospect_of(user: User, chat_id: int) -> Prospect:
    return Prospect(
        user_id=user.id,
        chat_id=chat_id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )


def create_prospect_router(deps: Deps) -> Router:
    router = Router(name="prospect")
    router.message.filter(PRIVATE)
    router.edited_message.filter(PRIVATE)
    router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
    service = deps.interview
    last_nudge: dict[int, float] = {}

    async def deliver(
        bot: Bot, prospect: Prospect, reply: Reply, pressed: int | None = None
    ) -> None:
        crash_point("before_reply")  # tests: the service committed, nothing sent yet
        await send_reply(
            bot,
            prospect,
            reply,
            note_message=service.note_message,
            pressed_message_id=pressed,
        )
        if reply.card_queued:
            deps.wake_outbox()

    def who(message: Message) -> Prospect | None:
        if message.from_user is None:
            return None
        return prospect_of(message.from_user, message.chat.id)

    @router.message(CommandStart())
    async def start(
        message: Message, bot: Bot, command: CommandObject, event_update: Update
    ) -> None:
        p = who(message)
        if p is None:
            return
        payload = (command.args or "").strip() or None
        reply = await service.start(p, payload, update_id=event_update.update_id)
        await deliver(bot, p, reply)

    @router.message(Command("language"))
    async def language(
        message: Message, bot: Bot, command: CommandObject, event_update: Update
    ) -> None:
        p = who(message)
        if p is None:
            return
        lang = (command.args or "").strip().lower() or None
        reply = await service.set_language(p, lang, update_id=event_update.update_id)
        await deliver(bot, p, reply)

    def command_to(name: str, call: Callable[..., Awaitable[Reply]]) -> None:
        """`/name` maps straight to one service call; the reply goes back as is."""

        async def handler(message: Message, bot: Bot, event_update: Update) -> None:
            if p := who(message):
                await deliver(bot, p, await call(p, update_id=event_update.update_id))

        router.message(Command(name))(handler)

    command_to("restart", service.restart)
    command_to("cancel", service.cancel)
    command_to("stop", service.stop)
    command_to("forget", service.forget)

    @router.message(Command("privacy"))
    async def privacy(message: Message, bot: Bot) -> None:
        if p := who(message):
            await deliver(bot, p, service.privacy(p.language_code))

    @router.message(Command("help"))
    async def help_(message: Message, bot: Bot) -> None:
        if p := who(message):
            await help_and_current(bot, p)

    async def help_and_current(bot: Bot, p: Prospect) -> None:
        await deliver(bot, p, service.help(p.language_code))
        await deliver(bot, p, await service.current(p))

    @router.message(F.contact)
    async def contact(message: Message, bot: Bot, event_update: Update) -> None:
        p = who(message)
        if p is None or message.contact is None:
            return
        # Any shared contact's number is accepted: a prospect may give a colleague's.
        reply = await service.contact(
            p, message.contact.phone_number, update_id=event_update.update_id
        )
        await deliver(bot, p, reply)

    @router.message(F.text.startswith("/"))
    async def unknown_command(message: Message, bot: Bot) -> None:
        if p := who(message):
            await help_and_current(bot, p)

    @router.message(F.text)
    async def text(message: Message, bot: Bot, event_update: Update) -> None:
        p = who(message)
        if p is None or message.text is None:
            return
        relay = deps.relay_prospect
        reply = await service.text(
            p,
            message.text,
            update_id=event_update.update_id,
            sent_at=message.date.timestamp(),
            check_relay=relay is not None,
        )
        if reply.relayed and relay is not None:
            await relay(message, bot, event_update.update_id)  # sales has the lead
            return
        await deliver(bot, p, reply)

    @router.message()
    async def unreadable(message: Message, bot: Bot) -> None:
        # Stickers, photos, voice, video, documents, locations, polls, games, ...
        p = who(message)
        if p is None:
            return
        now = deps.clock()
        last = last_nudge.get(p.chat_id)
        if last is not None and now - last < deps.nudge_every:
            return  # a flood of stickers gets one answer, not one each
        if len(last_nudge) > 10_000:
            last_nudge.clear()
        last_nudge[p.chat_id] = now
        current = await service.current(p)
        key = "nudge" if current.messages else "nudge_idle"
        lang = current.lang or p.language_code  # the interview's language, if it has one
        await bot.send_message(p.chat_id, say(key, lang), parse_mode=None)
        await deliver(bot, p, current)

    @router.edited_message()
    async def edited(message: Message) -> None:
        # An edit of an answer already given: the answer stands (Back changes it);
        # replying to every edit would be noise.
        log.debug("Edited message %s in chat %s ignored", message.message_id, message.chat.id)

    @router.callback_query()
    async def pressed(
        query: CallbackQuery,
        bot: Bot,
        event_update: Update,
        answer_once: AnswerOnce | None = None,  # from ErrorIsolation: shared by its retries
    ) -> None:
        if query.message is None:
            if answer_once is None or answer_once.claim():
                await bot.answer_callback_query(query.id)
            return
        p = prospect_of(query.from_user, query.message.chat.id)
        async with PromptAnswer(bot, query, deps.callback_budget, answer_once) as answer:
            reply = await service.option(
                p,
                query.data or "",
                update_id=event_update.update_id,
                message_id=query.message.message_id,
            )
            await answer.done(reply.notice)
            await deliver(bot, p, reply, pressed=query.message.message_id)

    @router.my_chat_member(F.chat.type == ChatType.PRIVATE)
    async def membership(event: ChatMemberUpdated) -> None:
        # Telegram tells us when a prospect blocks (kicked) or unblocks (member) the bot:
        # no need to wait for a 403 on the next send.
        status = event.new_chat_member.status
        if status == "kicked":
            await deps.on_blocked(event.chat.id)
        elif status == "member":
            await deps.on_returned(event.chat.id)

    return router
