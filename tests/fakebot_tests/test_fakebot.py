"""The fake Bot API, driven through aiogram's real Bot, AiohttpSession and Dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakebot import (
    FakeTelegramServer,
    ManualClock,
    RateLimits,
    StoredMessage,
    WaitTimeout,
)
from tests.fakebot.fixtures import close_bot
from tests.fakebot.remote import spawn_fake_server

SERVER = FakeTelegramServer


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


@contextlib.asynccontextmanager
async def polling(dp: Dispatcher, *bots: Bot, **kwargs: Any) -> AsyncIterator[asyncio.Task[Any]]:
    """Run dp.start_polling in the background for the block."""
    task = asyncio.create_task(
        dp.start_polling(*bots, handle_signals=False, close_bot_session=False, **kwargs)
    )
    try:
        yield task
    finally:
        with contextlib.suppress(RuntimeError):
            await dp.stop_polling()
        await asyncio.wait_for(task, 5)


def echo_dispatcher(seen: list[Update] | None = None) -> Dispatcher:
    """A tiny bot: /start [payload], /help, callbacks 'go' and 'slow', echo of texts."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(
            f"Hello, <b>{message.from_user.first_name}</b>! payload={command.args}",
            parse_mode="HTML",
            reply_markup=keyboard([("Go", "go"), ("Stop", "stop")]),
        )

    @router.callback_query(F.data == "go")
    async def go(query: CallbackQuery) -> None:
        await query.answer("going")
        await query.message.edit_text("Gone", reply_markup=None)

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    @router.message(F.document)
    async def document(message: Message, bot: Bot) -> None:
        file = await bot.get_file(message.document.file_id)
        data = await bot.download_file(file.file_path)
        await message.answer(f"got {message.document.file_name}: {data.read().decode()}")

    dp = Dispatcher()
    if seen is not None:

        @dp.update.outer_middleware()
        async def record(handler: Any, event: Update, data: dict[str, Any]) -> Any:
            seen.append(event)
            return await handler(event, data)

    dp.include_router(router)
    return dp


# ---------------------------------------------------------------------------- identity


async def test_get_me_and_tokens(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    me = await fake_bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "test123456_bot"
    other = fake_api.create_bot("777:OTHER")
    try:
        assert (await other.get_me()).id == 777
        fake_api.revoke("777:OTHER")
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await other.get_me()
    finally:
        await close_bot(other)
    assert [c.method for c in fake_api.calls] == ["getMe", "getMe", "getMe"]
    assert fake_api.calls[-1].status == 401


# ---------------------------------------------------------------------------- sending


async def test_send_message_is_recorded(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user("Alice")
    sent = await fake_bot.send_message(
        alice.id,
        "<b>Budget?</b> &lt;10k &amp; more",
        parse_mode="HTML",
        reply_markup=keyboard([("Small", "b:s"), ("Large", "b:l")]),
    )
    assert sent.text == "Budget? <10k & more"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 7
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "b:l"
    assert sent.from_user.id == 123456 and sent.chat.id == alice.id

    msg = fake_api.last_message(alice.id)
    assert msg is not None and msg.message_id == sent.message_id
    assert msg.text == "Budget? <10k & more"
    assert msg.raw == msg.html == "<b>Budget?</b> &lt;10k &amp; more"
    assert msg.button_texts == ["Small", "Large"] and msg.callback_data == ["b:s", "b:l"]

    reply = await fake_bot.send_message(
        alice.id, "a reply", reply_parameters=ReplyParameters(message_id=sent.message_id)
    )
    assert reply.reply_to_message.message_id == sent.message_id
    assert fake_api.last_message(alice.id).reply_to_message_id == sent.message_id
    assert [m.text for m in alice.messages] == ["Budget? <10k & more", "a reply"]

    call = fake_api.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == alice.id
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Small"
    assert call.status == 200 and call.ok


async def test_reply_keyboard_is_tracked(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    markup = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Share phone", request_contact=True)]], resize_keyboard=True
    )
    await fake_bot.send_message(alice.id, "Your phone?", reply_markup=markup)
    assert alice.reply_keyboard["keyboard"][0][0]["request_contact"] is True
    assert alice.last_message.button_texts == ["Share phone"]
    await fake_bot.send_message(alice.id, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert alice.reply_keyboard is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": ""}, "Bad Request: message text is empty"),
        ({"text": "<b> </b>", "parse_mode": "HTML"}, "Bad Request: message text is empty"),
        ({"text": "x" * 4097}, "Bad Request: message is too long"),
        (
            {"text": "<div>hi</div>", "parse_mode": "HTML"},
            'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 0',
        ),
        (
            {"text": "a <b>b", "parse_mode": "HTML"},
            "Bad Request: can't parse entities: "
            'Can\'t find end tag corresponding to start tag "b"',
        ),
        (
            {"text": "1.5", "parse_mode": "MarkdownV2"},
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped "
            "with the preceding '\\'",
        ),
        (
            {"text": "x", "reply_markup": keyboard([("x", "d" * 65)])},
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            {"text": "x", "reply_markup": keyboard([(str(i), str(i)) for i in range(9)])},
            "Bad Request: reply markup is too long",
        ),
        (
            {"text": "x", "reply_markup": keyboard(*[[("b", "b")] * 5] * 21)},
            "Bad Request: reply markup is too long",
        ),
        ({"text": "x", "reply_to_message_id": 999}, "Bad Request: message to be replied not found"),
    ],
)  # fmt: skip
async def test_invalid_sends_are_refused(
    fake_api: FakeTelegramServer, fake_bot: Bot, kwargs: dict[str, Any], error: str
) -> None:
    alice = fake_api.user()
    with pytest.raises(TelegramBadRequest) as info:
        await fake_bot.send_message(alice.id, **kwargs)
    assert info.value.message == error
    assert alice.messages == []
    assert [p.description for p in fake_api.take_problems()] == [error]


async def test_longest_text_and_data_pass(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    text = "<i>" + "я" * 4096 + "</i>"
    markup = keyboard([("ok", "ж" * 32)])  # 64 bytes of UTF-8
    sent = await fake_bot.send_message(alice.id, text, parse_mode="HTML", reply_markup=markup)
    assert len(sent.text) == 4096


async def test_chat_not_found_until_the_user_writes(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    stranger = fake_api.user("Stranger", known=False)
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await fake_bot.send_message(stranger.id, "hi")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await fake_bot.send_message(-100123, "hi")
    fake_api.expect_problem("chat not found")
    stranger.send("hello")
    await fake_bot.send_message(stranger.id, "hi")
    assert len(fake_api.expected_problems) == 2 and fake_api.problems == []


# ---------------------------------------------------------------------------- editing


async def test_edits_keep_history_and_refuse_no_change(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    alice = fake_api.user()
    sent = await fake_bot.send_message(alice.id, "Q1", reply_markup=keyboard([("A", "a")]))
    same = {"chat_id": alice.id, "message_id": sent.message_id}
    with pytest.raises(TelegramBadRequest) as info:
        await fake_bot.edit_message_text(text="Q1", reply_markup=keyboard([("A", "a")]), **same)
    assert info.value.message == (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await fake_bot.edit_message_reply_markup(reply_markup=keyboard([("A", "a")]), **same)
    fake_api.expect_problem("message is not modified")

    await fake_bot.edit_message_reply_markup(reply_markup=keyboard([("B", "b")]), **same)
    edited = await fake_bot.edit_message_text(text="<b>Q1</b>", parse_mode="HTML", **same)
    assert isinstance(edited, Message) and edited.edit_date is not None
    msg = fake_api.get_message(alice.id, sent.message_id)
    assert msg.text == "Q1" and msg.entities[0]["type"] == "bold"
    assert msg.reply_markup is None  # an edit without reply_markup drops the keyboard
    assert msg.history[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
    assert len(msg.history) == 2 and msg.edited


async def test_edit_and_delete_errors(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    alice.send("my own words")
    own = fake_api.messages(alice.id, include_user=True)[0]
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await fake_bot.edit_message_text(text="x", chat_id=alice.id, message_id=99)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await fake_bot.edit_message_text(text="x", chat_id=alice.id, message_id=own.message_id)
    doc = await fake_bot.send_document(alice.id, BufferedInputFile(b"pdf", "a.pdf"))
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await fake_bot.edit_message_text(text="x", chat_id=alice.id, message_id=doc.message_id)
    await fake_bot.edit_message_caption(chat_id=alice.id, message_id=doc.message_id, caption="c")
    assert fake_api.get_message(alice.id, doc.message_id).caption == "c"

    assert await fake_bot.delete_message(alice.id, doc.message_id) is True
    assert fake_api.get_message(alice.id, doc.message_id).deleted
    assert doc.message_id not in [m.message_id for m in alice.messages]
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await fake_bot.delete_message(alice.id, doc.message_id)
    with pytest.raises(TelegramBadRequest, match="message can't be deleted for everyone"):
        fake_api.wall_clock = lambda: time.time() + 49 * 3600
        await fake_bot.delete_message(alice.id, own.message_id)
    fake_api.expect_problem("not found", "can't be edited", "no text", "can't be deleted")


# ---------------------------------------------------------------------------- callbacks


async def test_callback_answers(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    fake_api.clock = clock = ManualClock()
    alice = fake_api.user()
    await fake_bot.send_message(
        alice.id, "Pick", reply_markup=keyboard([("One", "1"), ("Two", "2")])
    )
    update_id = alice.click("Two")
    updates = await fake_bot.get_updates()
    query = updates[0].callback_query
    assert updates[0].update_id == update_id and query.data == "2"
    assert query.message.text == "Pick" and query.message.reply_markup is not None
    assert await fake_bot.answer_callback_query(query.id, text="ok") is True
    assert fake_api.callbacks[query.id].answer["text"] == "ok"
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    with pytest.raises(TelegramBadRequest) as info:
        await fake_bot.answer_callback_query(query.id)  # twice
    assert info.value.message == too_old
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await fake_bot.answer_callback_query("nope")
    assert len(fake_api.take_problems()) == 2

    fake_api.callback_query_ttl = 15.0
    alice.click(data="1")
    old = (await fake_bot.get_updates(offset=update_id + 1))[0].callback_query
    clock.advance(16)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await fake_bot.answer_callback_query(old.id)
    assert fake_api.problems == []  # expiry is the test's doing, not a bot bug
    with pytest.raises(LookupError, match="buttons: \\['One', 'Two'\\]"):
        alice.click("Three")


async def test_unanswered_callbacks_can_fail_the_test(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    alice = fake_api.user()
    await fake_bot.send_message(alice.id, "Pick", reply_markup=keyboard([("One", "1")]))
    alice.click("One")
    fake_api.require_callback_answers = True
    assert len(fake_api.unanswered_callbacks()) == 1
    with pytest.raises(AssertionError, match="never answered"):
        fake_api.check()
    fake_api.require_callback_answers = False


# ---------------------------------------------------------------------------- faults


async def test_blocked_user(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice, bob = fake_api.user("Alice"), fake_api.user("Bob")
    fake_api.block(alice.id)
    with pytest.raises(TelegramForbiddenError) as info:
        await fake_bot.send_message(alice.id, "hi")
    assert info.value.message == "Forbidden: bot was blocked by the user"
    bob.block()  # the my_chat_member update blocks too
    with pytest.raises(TelegramForbiddenError):
        await fake_bot.send_chat_action(bob.id, "typing")
    updates = await fake_bot.get_updates(allowed_updates=["my_chat_member"])
    assert updates[0].my_chat_member.new_chat_member.status == "kicked"
    bob.unblock()
    await fake_bot.send_message(bob.id, "welcome back")
    assert fake_api.problems == []


async def test_migrated_group(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    group = fake_api.group("Sales", supergroup=False)
    old_id = group.id
    await fake_bot.send_message(old_id, "card 1")
    new_id = group.migrate()
    for _ in range(2):  # the old id keeps being refused
        with pytest.raises(TelegramMigrateToChat) as info:
            await fake_bot.send_message(old_id, "card 2")
        assert info.value.migrate_to_chat_id == new_id
    assert "upgraded to a supergroup" in info.value.message
    sent = await fake_bot.send_message(new_id, "card 2")
    assert sent.chat.id == new_id and str(new_id).startswith("-100")
    assert group.id == new_id and fake_api.problems == []


async def test_retry_after_and_server_errors(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    fault = fake_api.retry_after(7, method="sendMessage", times=2)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as info:
            await fake_bot.send_message(alice.id, "hi")
        assert info.value.retry_after == 7
        assert info.value.message.endswith("Original description: Too Many Requests: retry after 7")
    await fake_bot.send_message(alice.id, "hi")
    assert fault.hits == 2 and fault.exhausted

    fake_api.server_error(500, times=1)
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await fake_bot.get_me()
    fake_api.server_error(502, method="sendChatAction")
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await fake_bot.send_chat_action(alice.id, "typing")
    assert [c.fault for c in fake_api.calls] == [
        "retry_after",
        "retry_after",
        None,
        "server_error",
        "server_error",
    ]
    assert fake_api.problems == []


async def test_faults_per_chat_and_by_probability(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    alice, bob = fake_api.user("Alice"), fake_api.user("Bob")
    fake_api.add_fault(kind="blocked", chat_id=bob.id, times=None)
    await fake_bot.send_message(alice.id, "fine")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await fake_bot.send_message(bob.id, "no")
    fake_api.clear_faults()

    async def run() -> list[bool]:
        fake_api.rng.seed(42)
        fake_api.clear_faults()
        fake_api.server_error(500, method="getMe", times=None, probability=0.5)
        results = []
        for _ in range(20):
            try:
                await fake_bot.get_me()
                results.append(True)
            except TelegramServerError:
                results.append(False)
        return results

    first, second = await run(), await run()
    assert first == second and 3 < first.count(False) < 17  # seeded: reproducible


async def test_dropped_connection(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    fake_api.drop_connection(method="sendMessage")
    with pytest.raises(TelegramNetworkError):
        await fake_bot.send_message(alice.id, "lost before")
    assert alice.messages == []
    fake_api.drop_connection(method="sendMessage", after=True)
    with pytest.raises(TelegramNetworkError):
        await fake_bot.send_message(alice.id, "lost after")
    assert [m.text for m in alice.messages] == ["lost after"]  # it was sent all the same
    calls = fake_api.calls_to("sendMessage")
    assert [c.dropped for c in calls] == [True, True] and calls[0].fault == "drop"
    await fake_bot.send_message(alice.id, "fine again")


async def test_slow_response(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    fake_api.slow(0.3, method="sendMessage", times=1)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await fake_bot.send_message(alice.id, "slow", request_timeout=0.1)
    started = time.perf_counter()
    fake_api.slow(0.1, method="getMe", times=1)
    await fake_bot.get_me()
    assert time.perf_counter() - started >= 0.1


async def test_unimplemented_method_fails_the_test(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    alice = fake_api.user()
    with pytest.raises(TelegramNotFound, match="Not Found"):
        await fake_bot.send_dice(alice.id)
    with pytest.raises(AssertionError, match="sendDice: Not Found"):
        fake_api.check()
    fake_api.expect_problem("sendDice")
    fake_api.check()


async def test_rate_limits(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    fake_api.clock = clock = ManualClock()
    fake_api.set_rate_limits(
        RateLimits.telegram(scale=0.1)
    )  # 3 per 0.3 s, 20 per 6 s, 30 per 0.1 s
    alice = fake_api.user()
    for i in range(3):
        await fake_bot.send_message(alice.id, f"burst {i}")
    with pytest.raises(TelegramRetryAfter) as info:
        await fake_bot.send_message(alice.id, "too fast")
    assert info.value.retry_after == 1
    clock.advance(0.31)
    await fake_bot.send_message(alice.id, "later")

    group = fake_api.group("Sales")
    for i in range(20):
        clock.advance(0.01)
        await fake_bot.send_message(group.id, f"card {i}")
    with pytest.raises(TelegramRetryAfter):
        await fake_bot.send_message(group.id, "card 21")
    clock.advance(6)

    fake_api.set_rate_limits(per_bot=(30, 1.0), retry_after=3)
    users = [fake_api.user(f"U{i}") for i in range(31)]
    for user in users[:30]:
        await fake_bot.send_message(user.id, "hi")
    with pytest.raises(TelegramRetryAfter) as info:
        await fake_bot.send_message(users[30].id, "hi")
    assert info.value.retry_after == 3
    fake_api.set_rate_limits(RateLimits())
    await fake_bot.send_message(users[30].id, "no limits now")


# ---------------------------------------------------------------------------- files


async def test_documents_and_photos(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    sent = await fake_bot.send_document(
        alice.id,
        BufferedInputFile(b"%PDF-1.4 lead report", "report.pdf"),
        caption="<b>Report</b>",
        parse_mode="HTML",
    )
    assert sent.document.file_name == "report.pdf" and sent.caption == "Report"
    stored = alice.last_message
    assert stored.kind == "document" and stored.caption == "Report"
    record = fake_api.files[sent.document.file_id]
    assert record.data == b"%PDF-1.4 lead report" and record.file_name == "report.pdf"
    upload = fake_api.calls_to("sendDocument")[0].params["document"]
    assert upload.filename == "report.pdf" and upload.data == record.data

    photo = await fake_bot.send_photo(alice.id, BufferedInputFile(b"\x89PNG fake", "p.png"))
    assert photo.photo[-1].file_id in fake_api.files
    again = await fake_bot.send_photo(alice.id, photo.photo[-1].file_id)  # by file_id
    assert again.photo[-1].file_id == photo.photo[-1].file_id

    file = await fake_bot.get_file(sent.document.file_id)
    data = await fake_bot.download_file(file.file_path)
    assert data.read() == b"%PDF-1.4 lead report"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await fake_bot.get_file("nope")
    fake_api.expect_problem("invalid file_id")


async def test_copy_and_forward(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    group = fake_api.group("Sales")
    alice.send("I want a demo")
    original = fake_api.messages(alice.id, include_user=True)[-1]
    copied = await fake_bot.copy_message(group.id, alice.id, original.message_id)
    copy = fake_api.get_message(group.id, copied.message_id)
    assert copy.text == "I want a demo" and copy.copied_from == (alice.id, original.message_id)
    forwarded = await fake_bot.forward_message(group.id, alice.id, original.message_id)
    assert forwarded.forward_origin.sender_user.id == alice.id
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await fake_bot.copy_message(group.id, alice.id, 999)
    fake_api.expect_problem("message to copy not found")


# ---------------------------------------------------------------------------- chats


async def test_chat_actions_commands_and_menu(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    assert await fake_bot.send_chat_action(alice.id, "typing") is True
    assert fake_api.chat_actions == [(alice.id, "typing")]
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await fake_bot.send_chat_action(alice.id, "dancing")
    fake_api.expect_problem("wrong parameter action")

    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Help"),
    ]
    assert await fake_bot.set_my_commands(commands)
    assert await fake_bot.set_my_commands(commands[:1], language_code="ru")
    scope = BotCommandScopeChat(chat_id=alice.id)
    assert await fake_bot.set_my_commands(commands[1:], scope=scope)
    assert [c.command for c in await fake_bot.get_my_commands()] == ["start", "help"]
    assert [c.command for c in await fake_bot.get_my_commands(language_code="ru")] == ["start"]
    assert [c.command for c in await fake_bot.get_my_commands(scope=scope)] == ["help"]
    assert await fake_bot.delete_my_commands(language_code="ru")
    assert await fake_bot.get_my_commands(language_code="ru") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await fake_bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])
    fake_api.expect_problem("BOT_COMMAND_INVALID")

    assert await fake_bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert (await fake_bot.get_chat_menu_button()).type == "commands"
    assert await fake_bot.set_my_description("Qualifies leads")
    assert (await fake_bot.get_my_description()).description == "Qualifies leads"


async def test_get_chat_and_members(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    owner, admin, member, gone = (fake_api.user(n) for n in ("Olga", "Adam", "Mia", "Leo"))
    group = fake_api.group(
        "Sales",
        forum=True,
        members={
            owner.id: "creator",
            admin.id: "administrator",
            member.id: "member",
            gone.id: "left",
        },
    )
    chat = await fake_bot.get_chat(group.id)
    assert chat.title == "Sales" and chat.is_forum and chat.type == "supergroup"
    private = await fake_bot.get_chat(owner.id)
    assert private.first_name == "Olga" and private.type == "private"
    kinds = {
        owner.id: ChatMemberOwner,
        admin.id: ChatMemberAdministrator,
        member.id: ChatMemberMember,
        gone.id: ChatMemberLeft,
        424242: ChatMemberLeft,
        123456: ChatMemberAdministrator,  # the bot itself
    }
    for user_id, kind in kinds.items():
        assert isinstance(await fake_bot.get_chat_member(group.id, user_id), kind)
    group.set_member(member, "administrator")
    admins = await fake_bot.get_chat_administrators(group.id)
    assert {a.user.id for a in admins} == {owner.id, admin.id, member.id, 123456}
    assert await fake_bot.get_chat_member_count(group.id) == 4


async def test_forum_topics_and_group_replies(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    manager = fake_api.user("Manager")
    group = fake_api.group("Sales", forum=True, topics={7: "Leads"})
    card = await fake_bot.send_message(group.id, "Hot lead", message_thread_id=7)
    assert card.message_thread_id == 7 and card.is_topic_message
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await fake_bot.send_message(group.id, "x", message_thread_id=8)
    fake_api.expect_problem("message thread not found")
    topic = await fake_bot.create_forum_topic(group.id, "New leads")
    await fake_bot.send_message(group.id, "in topic", message_thread_id=topic.message_thread_id)
    assert [m.text for m in group.messages(thread_id=7)] == ["Hot lead"]

    update_id = group.send(manager, "I'll take it", reply_to=card.message_id)
    update = (await fake_bot.get_updates())[0]
    assert update.update_id == update_id
    assert update.message.reply_to_message.message_id == card.message_id
    assert update.message.reply_to_message.from_user.id == 123456
    assert update.message.message_thread_id == 7 and update.message.chat.id == group.id


# ---------------------------------------------------------------------------- updates


async def test_long_polling_with_a_dispatcher(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    seen: list[Update] = []
    dp = echo_dispatcher(seen)
    alice = fake_api.user("Alice")
    async with polling(dp, fake_bot):
        alice.start("ads_campaign")
        hello = await alice.next_message()
        assert hello.text == "Hello, Alice! payload=ads_campaign"
        alice.click("Go")
        gone = await fake_api.wait_for_edit(alice.id, hello.message_id)
        assert gone.text == "Gone" and gone.reply_markup is None
        answered = await fake_api.wait_for_call("answerCallbackQuery")
        assert answered.params["text"] == "going"
        echo = await alice.ask("how much?")
        assert echo.text == "echo: how much?"
        alice.send_document(b"pdf bytes", "brief.pdf")
        got = await alice.next_message()
        assert got.text == "got brief.pdf: pdf bytes"
        await fake_api.wait_idle()
    assert len(fake_api.bot().queue) == 0  # confirmed updates are dropped
    assert [u.update_id for u in seen] == [1, 2, 3, 4]
    polls = fake_api.calls_to("getUpdates")
    assert sorted(polls[0].params["allowed_updates"]) == ["callback_query", "message"]
    assert fake_api.problems == [] and fake_api.unanswered_callbacks() == []


async def test_get_updates_semantics(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    alice = fake_api.user()
    assert await fake_bot.get_updates(timeout=0) == []
    ids = [alice.send(f"m{i}") for i in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    first = await fake_bot.get_updates(limit=2)
    assert [u.update_id for u in first] == [1, 2]
    again = await fake_bot.get_updates(limit=2)  # not confirmed: the same again
    assert [u.update_id for u in again] == [1, 2]
    rest = await fake_bot.get_updates(offset=3)
    assert [u.update_id for u in rest] == [3, 4, 5]
    assert [e.update_id for e in fake_api.bot().queue] == [3, 4, 5]
    assert await fake_bot.get_updates(offset=6, timeout=0) == []
    assert not fake_api.bot().queue

    loop = asyncio.get_running_loop()
    started = loop.time()
    loop.call_later(0.1, alice.send, "late")
    woke = await fake_bot.get_updates(offset=6, timeout=1)
    assert [u.message.text for u in woke] == ["late"]
    assert loop.time() - started < 0.5  # answered on arrival, not after the timeout

    alice.send("text")
    fake_api.push_update(fake_api.factory.location(alice.tg))
    got = await fake_bot.get_updates(offset=8, allowed_updates=["callback_query"], timeout=0)
    assert got == [] and fake_api.bot().filtered == [7, 8]


async def test_duplicate_delivery_and_raw_updates(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    seen: list[Update] = []
    dp = echo_dispatcher(seen)
    alice = fake_api.user()
    async with polling(dp, fake_bot):
        update_id = fake_api.push_update(fake_api.factory.text(alice.tg, "twice"), copies=2)
        await fake_api.wait_idle()
        fake_api.redeliver(update_id)
        fake_api.push_raw(
            {
                "message": {
                    "message_id": 50,
                    "date": 0,
                    "chat": {"id": alice.id, "type": "private"},
                    "text": "raw",
                }
            }
        )
        await fake_api.wait_idle()
    assert [u.update_id for u in seen] == [update_id] * 3 + [update_id + 1]
    assert [m.text for m in alice.messages] == ["echo: twice"] * 3 + ["echo: raw"]


async def test_two_pollers_conflict(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    first = asyncio.create_task(fake_bot.get_updates(timeout=1))
    await fake_api.wait_until(lambda: fake_api.bot().poller is not None, timeout=1)
    second = asyncio.create_task(fake_bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    assert await second == []


async def test_two_bots_have_separate_chats(fake_api: FakeTelegramServer) -> None:
    sales_token = "999:SALES"
    main_bot, sales_bot = fake_api.create_bot(), fake_api.create_bot(sales_token)
    try:
        alice = fake_api.user()
        fake_api.add_user(alice.tg, token=sales_token)
        a = await main_bot.send_message(alice.id, "from main")
        b = await sales_bot.send_message(alice.id, "from sales")
        assert a.message_id == b.message_id == 1
        assert [m.text for m in fake_api.messages(alice.id)] == ["from main"]
        assert [m.text for m in fake_api.messages(alice.id, token=sales_token)] == ["from sales"]
        fake_api.push_update(fake_api.factory.text(alice.tg, "hi sales"), token=sales_token)
        assert await main_bot.get_updates(timeout=0) == []
        assert (await sales_bot.get_updates())[0].message.text == "hi sales"
    finally:
        await close_bot(main_bot)
        await close_bot(sales_bot)


async def test_factory_updates_are_valid_for_aiogram(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    f = fake_api.factory
    alice = fake_api.user("Alice", username="alice", language_code="ru")
    group = fake_api.group("Sales", forum=True)
    sent = await fake_bot.send_message(alice.id, "Pick", reply_markup=keyboard([("A", "a")]))
    record = fake_api.add_file(b"data", "cv.docx")
    updates = [
        f.command(alice.tg, "start", "promo-1"),
        f.command(alice.tg, "help", mention=True),
        f.callback(alice.tg, fake_api.message_json(alice.last_message), "a"),
        f.contact(alice.tg, "+15551234567"),
        f.document(alice.tg, record.file_id, file_name="cv.docx", file_size=4),
        f.photo(alice.tg, "photo-1", caption="look"),
        f.sticker(alice.tg),
        f.voice(alice.tg, 5),
        f.location(alice.tg),
        f.forwarded(alice.tg, "fwd", origin_user=f.user(first_name="Bob")),
        f.forwarded(alice.tg, "fwd", origin_chat=f.group(title="News", supergroup=True)),
        f.forwarded(alice.tg, "fwd", hidden_name="Anon"),
        f.group_text(alice.tg, group.to_dict(), "/take@test123456_bot", thread_id=3),
        f.blocked(alice.tg),
        f.bot_added(alice.tg, group.to_dict(), "administrator"),
    ]
    for update in updates:
        fake_api.push_update(update)
    start_id = updates[0]["message"]["message_id"]  # push_update numbered the message
    alice.edit(start_id, "edited text")
    got = await fake_bot.get_updates(allowed_updates=[])
    assert len(got) == len(updates) + 1
    start, helpcmd, query, contact, doc, photo, sticker, voice, location = got[:9]
    assert (
        start.message.text == "/start promo-1" and start.message.entities[0].type == "bot_command"
    )
    assert (
        start.message.from_user.language_code == "ru"
        and start.message.from_user.username == "alice"
    )
    assert helpcmd.message.text == "/help@test123456_bot"
    assert query.callback_query.message.message_id == sent.message_id
    assert contact.message.contact.user_id == alice.id
    assert doc.message.document.file_id == record.file_id
    assert photo.message.photo[-1].file_id == "photo-1" and photo.message.caption == "look"
    assert sticker.message.sticker.emoji and voice.message.voice.duration == 5
    assert location.message.location.latitude > 0
    assert got[9].message.forward_origin.type == "user"
    assert got[10].message.forward_origin.type == "channel"
    assert got[11].message.forward_origin.type == "hidden_user"
    assert got[12].message.chat.is_forum and got[12].message.message_thread_id == 3
    assert got[13].my_chat_member.new_chat_member.status == "kicked"
    assert got[14].my_chat_member.new_chat_member.status == "administrator"
    assert got[15].edited_message.text == "edited text" and got[15].edited_message.edit_date
    message_ids = [u.message.message_id for u in got if u.message and u.message.chat.id == alice.id]
    assert len(set(message_ids)) == len(message_ids) and sent.message_id not in message_ids
    edited = fake_api.get_message(alice.id, start_id)
    assert edited.text == "edited text" and edited.history[0]["text"] == "/start promo-1"


# ---------------------------------------------------------------------------- webhook


@contextlib.asynccontextmanager
async def webhook_app(register: Any, path: str = "/hook") -> AsyncIterator[str]:
    """A web app on 127.0.0.1; ``register(app, path)`` adds the webhook route."""
    app = web.Application()
    register(app, path=path)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{path}"
    finally:
        await runner.cleanup()


async def test_webhook_with_aiogram_handler(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    dp = echo_dispatcher()
    handler = SimpleRequestHandler(dp, fake_bot, secret_token="s3cret")
    alice = fake_api.user()
    async with webhook_app(handler.register) as url:
        assert await fake_bot.set_webhook(url, secret_token="s3cret")
        info = await fake_bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        alice.start()
        assert (await alice.next_message()).text.startswith("Hello, Alice!")
        alice.send("ping")
        assert (await alice.next_message()).text == "echo: ping"
        await fake_api.wait_idle()
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await fake_bot.get_updates()
        assert await fake_bot.delete_webhook()
        assert (await fake_bot.get_webhook_info()).url == ""
    assert [d.status for d in fake_api.bot().webhook_history] == [200, 200]


async def test_webhook_redelivers_and_blocks_later_updates(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    fake_api.webhook_retry_delay = 0.05
    received: list[tuple[int, str | None]] = []
    fail = {"left": 2}

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        received.append(
            (update["update_id"], request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        if update["update_id"] == 1 and fail["left"]:
            fail["left"] -= 1
            return web.Response(status=500)
        return web.json_response({})

    alice = fake_api.user()
    async with webhook_app(lambda app, path: app.router.add_post(path, hook)) as url:
        await fake_bot.set_webhook(url, secret_token="abc")
        alice.send("one")
        alice.send("two")
        await fake_api.wait_idle(timeout=2)
        info = await fake_bot.get_webhook_info()
        assert info.pending_update_count == 0
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
    assert received == [(1, "abc"), (1, "abc"), (1, "abc"), (2, "abc")]
    deliveries = fake_api.bot().webhook_history
    assert [d.status for d in deliveries] == [500, 500, 200, 200]


async def test_webhook_reply_method_is_executed(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    router = Router()

    @router.message(Command("ping"))
    async def ping(message: Message) -> SendMessage:
        return message.answer("pong")  # answered in the webhook response body

    dp = Dispatcher()
    dp.include_router(router)
    alice = fake_api.user()
    handler = SimpleRequestHandler(dp, fake_bot, handle_in_background=False)
    async with webhook_app(handler.register) as url:
        await fake_bot.set_webhook(url)
        alice.command("ping")
        assert (await alice.next_message()).text == "pong"
    call = fake_api.calls_to("sendMessage")[0]
    assert call.via == "webhook-reply" and call.ok


async def test_webhook_urls_must_be_loopback(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="bad webhook"):
        await fake_bot.set_webhook("https://example.com/hook")
    fake_api.expect_problem("bad webhook")


# ---------------------------------------------------------------------------- helpers


async def test_wait_helpers_time_out_with_context(
    fake_api: FakeTelegramServer, fake_bot: Bot
) -> None:
    alice = fake_api.user()
    await fake_bot.send_message(alice.id, "first")
    assert (await alice.next_message()).text == "first"
    with pytest.raises(WaitTimeout, match="a bot message in chat"):
        await alice.next_message(timeout=0.05)
    with pytest.raises(WaitTimeout):
        await fake_api.wait_for_call("sendPhoto", timeout=0.05)
    await fake_bot.send_message(alice.id, "second")
    await fake_bot.send_message(alice.id, "third")
    msg = await fake_api.wait_for_message(alice.id, lambda m: m.text == "third")
    assert msg.text == "third"
    with pytest.raises(WaitTimeout):  # "second" was passed over by the cursor
        await alice.next_message(timeout=0.05)
    again = await fake_api.wait_for_message(alice.id, since=0)
    assert again.text == "first"
    calls = [await fake_api.wait_for_call("sendMessage") for _ in range(3)]
    assert [c.params["text"] for c in calls] == ["first", "second", "third"]


async def test_params_from_other_clients(fake_api: FakeTelegramServer) -> None:
    alice = fake_api.user()
    url = f"{fake_api.url}/bot{fake_api.default_token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/sendMessage", json={"chat_id": alice.id, "text": "123"}) as r:
            body = await r.json()
        assert body["ok"] and body["result"]["text"] == "123"
        async with http.get(f"{url}/getMe") as r:
            assert (await r.json())["result"]["id"] == 123456
        async with http.post(
            f"{url}/SENDMESSAGE", data={"chat_id": str(alice.id), "text": "[1]"}
        ) as r:
            assert (await r.json())["result"]["text"] == "[1]"
        async with http.post(f"{url}/sendMessage", data={"chat_id": str(alice.id)}) as r:
            assert r.status == 400
            assert await r.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message text is empty",
            }
        async with http.get(f"{fake_api.url}/file/bot{fake_api.default_token}/nope") as r:
            assert r.status == 404
    assert [c.method for c in fake_api.calls] == [
        "sendMessage",
        "getMe",
        "sendMessage",
        "sendMessage",
    ]
    fake_api.expect_problem("message text is empty")


async def test_standalone_process_with_control_api() -> None:
    async with spawn_fake_server() as remote:
        assert await remote.health()
        alice = remote.factory.user(first_name="Alice")
        await remote.add_user(alice)
        bot = Bot(remote.token, session=_session(remote.url))
        try:
            dp = echo_dispatcher()
            async with polling(dp, bot):
                await remote.push_update(remote.factory.command(alice, "start", "x"))
                hello = await remote.wait_for_message(alice.id)
                assert hello["text"] == "Hello, Alice! payload=x"
                await remote.add_fault(kind="retry_after", method="sendMessage", retry_after=5)
                with pytest.raises(TelegramRetryAfter):
                    await bot.send_message(alice.id, "x")
                await remote.push_updates([remote.factory.text(alice, f"m{i}") for i in range(3)])
                texts = [(await remote.wait_for_message(alice.id))["text"] for _ in range(3)]
                assert texts == ["echo: m0", "echo: m1", "echo: m2"]
                await remote.wait_idle()
            calls = await remote.calls("sendMessage")
            assert [c["status"] for c in calls] == [200, 429, 200, 200, 200]
            assert await remote.problems() == []
            assert (await remote.stats())["methods"]["sendMessage"] == 5
        finally:
            await close_bot(bot)


def _session(url: str) -> Any:
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    return AiohttpSession(api=TelegramAPIServer.from_base(url))


async def test_many_updates_are_cheap(fake_api: FakeTelegramServer, fake_bot: Bot) -> None:
    router = Router()
    handled = []

    @router.message()
    async def count(message: Message) -> None:
        handled.append(message.message_id)

    dp = Dispatcher()
    dp.include_router(router)
    users = [fake_api.user(f"U{i}") for i in range(50)]
    started = time.perf_counter()
    async with polling(dp, fake_bot):
        for i in range(2000):
            users[i % 50].send(f"m{i}")
        await fake_api.wait_until(lambda: len(handled) == 2000, timeout=10)
    elapsed = time.perf_counter() - started
    assert elapsed < 20, elapsed  # about 1 s alone; generous for loaded CI machines
    assert len(fake_api.calls_to("getUpdates")) < 100  # batches of up to 100


def test_stored_message_repr_and_button_lookup() -> None:
    markup = {"inline_keyboard": [[{"text": "Yes, please", "callback_data": "y"}]]}
    msg = StoredMessage(
        chat_id=1, message_id=2, seq=1, from_bot=True, bot_id=1, sender={}, chat={}, date=0,
        text="Pick", reply_markup=markup,
    )  # fmt: skip
    assert msg.button("Yes")["callback_data"] == "y"
    assert msg.button(data="y")["text"] == "Yes, please"
    assert "Yes, please" in repr(msg)
