"""The baseline: a bare aiogram 3 bot that asks BANT's happy-path questions and stores nothing.

    BOT_TOKEN=... TELEGRAM_API_URL=http://127.0.0.1:PORT python bench/bare_bot.py
    # webhook mode, like ours: WEBHOOK_URL=... WEBHOOK_LISTEN=127.0.0.1:8081 WEBHOOK_SECRET=...

What a typical aiogram 3 tutorial bot does, with aiogram's defaults: the standard
json module in the HTTP session, asyncio's default event loop, the in-memory FSM
(one state per question, answers kept in FSM data, cleared at the end), inline
buttons and typed answers. It makes the same Bot API calls as ours for each update
(see bot/telegram/replies.py): /start sends a welcome and the first question; a
button press answers the callback, edits the question to show the choice and sends
the next question; a typed answer edits the question to show the answer and sends
the next one. BANT's 12 happy-path questions (bench/scenario.py checks the texts
against flows/builtin/bant.yaml), less the name when Telegram gave one (ours skips
it too: 11 questions), then a closing message.

It imports nothing from the project, so its start-up time is aiogram's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

# (question id, text, options (id, label)) in asking order: BANT's happy path.
QUESTIONS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "budget",
        "Have you looked at our prices, and is there money set aside for this?",
        [
            ("ready", "Yes, the price works for us"),
            ("planning", "We're still setting the budget"),
            ("exploring", "Just comparing prices for now"),
            ("none", "There's no budget for it yet"),
        ],
    ),
    (
        "role",
        "What's your part in choosing a tool like this?",
        [
            ("decider", "I make the final decision"),
            ("shared", "I decide together with a partner"),
            ("influencer", "I recommend, someone else signs"),
            ("researcher", "I'm gathering information"),
        ],
    ),
    ("need", "What would you like to fix or improve first?", []),
    (
        "must_haves",
        "Do you already know which features or add-ons you need?",
        [
            ("clear", "Yes, we have a list"),
            ("partly", "Roughly"),
            ("unsure", "Not yet - we'd like advice"),
        ],
    ),
    ("timing", "When would you like it up and running?", []),
    (
        "priority",
        "How high is this on your list right now?",
        [
            ("top", "Top priority"),
            ("one_of_several", "One of several things"),
            ("later", "It can wait"),
        ],
    ),
    (
        "industry",
        "What does your company do?",
        [
            ("services", "Services"),
            ("trade", "Trade or retail"),
            ("software", "IT or software"),
            ("production", "Manufacturing or construction"),
            ("other", "Something else"),
            ("personal", "It's for study or a personal project"),
        ],
    ),
    ("staff", "How many people work at your company?", []),
    ("name", "How should I call you?", []),
    ("company", "What's your company called?", []),
    ("phone", "Which phone number can our manager call?", []),
    ("email", "And an email for the proposal?", []),
]
TEXTS = {qid: text for qid, text, _ in QUESTIONS}
WELCOME = (
    "Hi, {name}! A few short questions, so we can suggest the right setup. "
    "Type or tap - whichever is easier."
)
CLOSING = "Thank you, {name}! A manager will get in touch with you today."


class Interview(StatesGroup):
    budget = State()
    role = State()
    need = State()
    must_haves = State()
    timing = State()
    priority = State()
    industry = State()
    staff = State()
    name = State()
    company = State()
    phone = State()
    email = State()


STATES = [getattr(Interview, qid) for qid, _, _ in QUESTIONS]


def keyboard(index: int) -> InlineKeyboardMarkup | None:
    qid, _, options = QUESTIONS[index]
    if not options:
        return None
    rows = [
        [InlineKeyboardButton(text=label, callback_data=f"a:{qid}:{oid}")] for oid, label in options
    ]
    rows.append([InlineKeyboardButton(text="Skip", callback_data=f"s:{qid}")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def question_text(index: int) -> str:
    return f"{index + 1}/{len(QUESTIONS)} · {QUESTIONS[index][1]}"


async def ask(message: Message, state: FSMContext, index: int) -> None:
    sent = await message.answer(question_text(index), reply_markup=keyboard(index))
    await state.set_state(STATES[index])
    await state.update_data(index=index, message_id=sent.message_id)


async def next_step(
    message: Message, state: FSMContext, qid: str, value: str, name: str | None
) -> None:
    data = await state.update_data({qid: value})
    index = data["index"] + 1
    if index < len(QUESTIONS) and QUESTIONS[index][0] == "name" and name:
        # Like ours: the name Telegram gave is not asked again.
        data = await state.update_data(name=name)
        index += 1
    if index < len(QUESTIONS):
        await ask(message, state, index)
    else:
        await state.clear()
        await message.answer(CLOSING.format(name=data.get("name") or name or "there"))


def create_router() -> Router:
    router = Router(name="bare")

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.clear()
        name = message.from_user.first_name if message.from_user else "there"
        await message.answer(WELCOME.format(name=name))
        await ask(message, state, 0)

    @router.callback_query(F.data.startswith("a:") | F.data.startswith("s:"))
    async def pressed(query: CallbackQuery, state: FSMContext) -> None:
        data = await state.get_data()
        parts = (query.data or "").split(":")
        index = data.get("index")
        if index is None or query.message is None or parts[1] != QUESTIONS[index][0]:
            await query.answer("That question is already answered")
            return
        qid, _, options = QUESTIONS[index]
        value = parts[2] if parts[0] == "a" and len(parts) > 2 else "skip"
        label = dict(options).get(value, "Skipped")
        await query.answer()
        await query.message.edit_text(f"{question_text(index)}\n✓ {label}")
        await next_step(query.message, state, qid, value, query.from_user.first_name)

    @router.message(F.text)
    async def typed(message: Message, state: FSMContext, bot: Bot) -> None:
        data = await state.get_data()
        index = data.get("index")
        if index is None:
            await message.answer("Send /start to begin.")
            return
        qid, _, options = QUESTIONS[index]
        value = message.text or ""
        shown = value
        if options:
            by_label = {label.casefold(): oid for oid, label in options}
            oid = by_label.get(value.strip().casefold())
            if oid is None:
                await message.answer("Sorry, I didn't catch that. Please pick one of the buttons.")
                return
            shown, value = dict(options)[oid], oid
        # Like ours: the answered question shows the answer (and loses its buttons).
        await bot.edit_message_text(
            f"{question_text(index)}\n✓ {shown}",
            chat_id=message.chat.id,
            message_id=data["message_id"],
        )
        name = message.from_user.first_name if message.from_user else None
        await next_step(message, state, qid, value, name)

    return router


async def main() -> None:
    token = os.environ["BOT_TOKEN"]
    api = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
    session = AiohttpSession(api=TelegramAPIServer.from_base(api))
    bot = Bot(token, session=session)
    dp = Dispatcher()
    dp.include_router(create_router())
    webhook_url = os.environ.get("WEBHOOK_URL")
    if not webhook_url:
        await bot.delete_webhook(drop_pending_updates=False)
        await dp.start_polling(bot)
        return

    from aiogram.webhook.aiohttp_server import SimpleRequestHandler
    from aiohttp import web

    host, _, port = os.environ.get("WEBHOOK_LISTEN", "0.0.0.0:8080").rpartition(":")
    secret = os.environ.get("WEBHOOK_SECRET") or None
    app = web.Application()
    # Like ours: acknowledge an update only once it is handled.
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token=secret).register(
        app, path=urlsplit(webhook_url).path or "/"
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    await bot.set_webhook(
        webhook_url, secret_token=secret, allowed_updates=dp.resolve_used_update_types()
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await bot.session.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
