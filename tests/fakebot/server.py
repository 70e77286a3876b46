"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests and benchmarks.

The bot talks to it through aiogram's real HTTP client::

    server = FakeTelegramServer()
    await server.start()
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))

Tests push updates (``push_update`` / ``server.user(...).send("hi")``), the bot fetches
them by long polling or receives them on its webhook, and tests read back what it said
(``wait_for_message``, ``messages``, ``calls``). Everything runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.web_request import FileField

from .control import add_control_routes
from .errors import NOT_FOUND, UNAUTHORIZED, ApiError, bad_request, forbidden, migrated
from .factory import TgChat, TgUser, UpdateFactory, admin_rights
from .faults import Fault, FaultSet, RateLimiter, RateLimits
from .methods import BotApiMethods
from .state import (
    DEFAULT_ALLOWED,
    BotState,
    Call,
    CallbackRecord,
    ChatRecord,
    FileRecord,
    Problem,
    StoredMessage,
    UpdateEntry,
    UploadedFile,
    Webhook,
    WebhookDelivery,
)
from .users import FakeGroup, FakeUser

log = logging.getLogger("fakebot")

DEFAULT_TOKEN = "123456:TEST-fake-bot-token"
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
_INT_RE = re.compile(r"^-?\d{1,20}$")
_FLOAT_RE = re.compile(r"^-?\d+\.\d+$")
# Parameters that are strings even when they look like numbers or JSON.
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "url",
        "secret_token",
        "parse_mode",
        "file_id",
        "inline_message_id",
        "language_code",
        "action",
        "title",
        "name",
        "description",
        "short_description",
        "ip_address",
        "emoji",
        "query",
        "question",
        "phone_number",
        "first_name",
        "last_name",
        "address",
        "document",
        "photo",
        "sticker",
        "voice",
        "audio",
        "video",
        "animation",
        "thumbnail",
        "certificate",
        "business_connection_id",
        "message_effect_id",
        "icon_custom_emoji_id",
        "custom_title",
    }
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_MAX_UPLOAD = 50 * 1024 * 1024


class WaitTimeout(AssertionError):
    """A ``wait_for_*`` helper gave up; the message says what was seen meanwhile."""


class _Drop(Exception):
    """Close the connection without answering."""


class _RawUpdates:
    __slots__ = ("entries",)

    def __init__(self, entries: list[UpdateEntry]) -> None:
        self.entries = entries


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, UploadedFile):
        return value.to_json()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default)


def decode_param(key: str, value: Any) -> Any:
    """Decode one form field the way the Bot API reads it: JSON for objects and arrays,
    numbers, booleans; known text fields stay strings."""
    if not isinstance(value, str) or key in _STRING_FIELDS:
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    if _INT_RE.match(value):
        return int(value)
    first = value[:1]
    if first in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    if _FLOAT_RE.match(value):
        return float(value)
    return value


class FakeTelegramServer(BotApiMethods):
    """The fake Bot API. See the module docstring and ``tests/fakebot/README.md``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
        control: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.url = ""
        self.clock: Callable[[], float] = clock or time.monotonic
        self.wall_clock: Callable[[], float] = wall_clock or time.time
        self.rng = random.Random(seed)
        self.faults = FaultSet(self.rng)
        self.limiter = RateLimiter(lambda: self.clock())
        self.control_enabled = control

        self.bots: dict[str, BotState] = {}
        self.default_token = token
        self.add_bot(token)

        self.calls: list[Call] = []
        self.problems: list[Problem] = []
        self.expected_problems: list[Problem] = []
        self._allowed_problems: list[str] = []
        self.strict = True

        self.chats: dict[int, ChatRecord] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[int, StoredMessage]] = {}
        self._counters: dict[tuple[int, int], int] = {}
        self._seq = itertools.count(1)
        self._read_cursor: dict[tuple[int, int], int] = {}
        self._call_cursor: dict[str | None, int] = {}
        self._reply_keyboards: dict[tuple[int, int], dict[str, Any] | None] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.pinned: dict[int, list[int]] = {}

        self.files: dict[str, FileRecord] = {}
        self._file_paths: dict[str, FileRecord] = {}
        self._file_ids = itertools.count(1)

        self.callbacks: dict[str, CallbackRecord] = {}
        self._query_ids = itertools.count(1)
        self.callback_query_ttl: float | None = None
        self.require_callback_answers = False

        self.webhook_retry_delay = 0.1
        self.webhook_timeout = 10.0
        self.webhook_concurrency = 1
        self._webhook_session: aiohttp.ClientSession | None = None

        self.factory = UpdateFactory(self.bot().user_dict(), clock=lambda: self.wall_clock())

        self._in_flight = 0
        self._last_activity = 0.0
        self._watchers: list[asyncio.Future[None]] = []
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_call: list[Callable[[Call], Any]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeTelegramServer:
        app = web.Application(client_max_size=_MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        if self.control_enabled:
            add_control_routes(app, self)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5,
            handler_cancellation=True,
        )  # fmt: skip
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._closing = False
        self._last_activity = asyncio.get_running_loop().time()
        return self

    async def stop(self) -> None:
        self._closing = True
        for bot in self.bots.values():
            self._wake(bot, "closing")
            self._stop_webhook(bot)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._webhook_session is not None:
            await self._webhook_session.close()
            self._webhook_session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._notify()

    async def __aenter__(self) -> FakeTelegramServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ bots

    def add_bot(
        self, token: str, *, username: str | None = None, first_name: str | None = None
    ) -> BotState:
        """Register a bot token (any well-formed token also registers itself on first use)."""
        if not _TOKEN_RE.match(token):
            raise ValueError(f"malformed bot token {token!r}: want '<digits>:<letters>'")
        bot = self.bots.get(token)
        if bot is None:
            bot = BotState(token, username=username, first_name=first_name)
            self.bots[token] = bot
        else:
            bot.username = username or bot.username
            bot.first_name = first_name or bot.first_name
        return bot

    def bot(self, token: str | None = None) -> BotState:
        token = token or self.default_token
        bot = self.bots.get(token)
        return bot if bot is not None else self.add_bot(token)

    def revoke(self, token: str | None = None) -> None:
        """From now on the token gets 401 Unauthorized."""
        self.bot(token).revoked = True

    def create_bot(self, token: str | None = None, **kwargs: Any) -> Any:
        """An aiogram ``Bot`` talking to this server (imports aiogram lazily)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        if not self.url:
            raise RuntimeError("start the server first")
        token = token or self.default_token
        self.bot(token)
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.url))
        return Bot(token, session=session, **kwargs)

    @property
    def api(self) -> Any:
        """aiogram's ``TelegramAPIServer`` for this server (imports aiogram lazily)."""
        from aiogram.client.telegram import TelegramAPIServer

        return TelegramAPIServer.from_base(self.url)

    @property
    def bot_user(self) -> dict[str, Any]:
        return self.bot().user_dict()

    # ------------------------------------------------------------------ chats and users

    def _remember_user(self, user: dict[str, Any] | None) -> None:
        if isinstance(user, dict) and isinstance(user.get("id"), int):
            self.users[user["id"]] = user

    def _ensure_chat(self, data: dict[str, Any] | TgChat) -> ChatRecord:
        if isinstance(data, TgChat):
            data = data.to_dict()
        chat_id = data["id"]
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = ChatRecord(
                id=chat_id,
                type=data.get("type") or ("private" if chat_id > 0 else "supergroup"),
                title=data.get("title"),
                username=data.get("username"),
                first_name=data.get("first_name"),
                last_name=data.get("last_name"),
                is_forum=bool(data.get("is_forum")),
            )
            self.chats[chat_id] = chat
        return chat

    def user(
        self,
        first_name: str = "Alice",
        *,
        id: int | None = None,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "en",
        token: str | None = None,
        known: bool = True,
    ) -> FakeUser:
        """A private-chat user the test drives. ``known=False``: the bot has never heard
        of them (sending to them gives "chat not found" until they write)."""
        tg = self.factory.user(
            id,
            first_name,
            username=username,
            last_name=last_name,
            language_code=language_code,
        )
        self.add_user(tg, token=token, known=known)
        return FakeUser(self, tg, token=token)

    def add_user(self, user: TgUser, *, token: str | None = None, known: bool = True) -> None:
        self._remember_user(user.to_dict())
        self._ensure_chat(user.chat)
        if known:
            self.bot(token).known_chats.add(user.id)

    def group(
        self,
        title: str = "Sales",
        *,
        id: int | None = None,
        supergroup: bool = True,
        forum: bool = False,
        username: str | None = None,
        members: dict[int, str] | None = None,
        bot_status: str = "administrator",
        topics: dict[int, str] | None = None,
        token: str | None = None,
    ) -> FakeGroup:
        """Register a group the bot is in (``bot_status``: administrator, member, left,
        kicked). ``members``: user id → creator/administrator/member/restricted/left/kicked."""
        tg = self.factory.group(id, title, supergroup=supergroup, forum=forum, username=username)
        chat = self.add_group(
            tg, members=members, bot_status=bot_status, topics=topics, token=token
        )
        return FakeGroup(self, chat, token=token)

    def add_group(
        self,
        chat: TgChat | dict[str, Any],
        *,
        members: dict[int, str] | None = None,
        bot_status: str = "administrator",
        topics: dict[int, str] | None = None,
        token: str | None = None,
    ) -> ChatRecord:
        record = self._ensure_chat(chat)
        record.default_bot_status = bot_status
        record.bot_status[self.bot(token).id] = bot_status
        for user_id, status in (members or {}).items():
            record.members[int(user_id)] = status
        for thread_id, name in (topics or {}).items():
            record.topics[int(thread_id)] = name
        for bot in self.bots.values():
            bot.known_chats.add(record.id)
        return record

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """Set a user's status in a group: creator/administrator/member/restricted/left/kicked."""
        self.chats[chat_id].members[user_id] = status

    def set_bot_status(self, chat_id: int, status: str, *, token: str | None = None) -> None:
        self.chats[chat_id].bot_status[self.bot(token).id] = status

    def block(self, chat_id: int, *, token: str | None = None, notify: bool = False) -> None:
        """The user blocked the bot: sends to them get 403 "bot was blocked by the user".
        ``notify``: also push the my_chat_member (member → kicked) update."""
        bot = self.bot(token)
        if notify:
            self.push_update(self.factory.blocked(self._user_dict(chat_id)), token=token)
        bot.blocked.add(chat_id)

    def unblock(self, chat_id: int, *, token: str | None = None, notify: bool = False) -> None:
        bot = self.bot(token)
        bot.blocked.discard(chat_id)
        if notify:
            self.push_update(self.factory.unblocked(self._user_dict(chat_id)), token=token)

    def migrate_group(self, chat_id: int, new_chat_id: int | None = None) -> int:
        """Upgrade a group to a supergroup: the old id answers 400 with
        ``migrate_to_chat_id`` (every time, like Telegram); the new id works."""
        old = self.chats[chat_id]
        if new_chat_id is None:
            new_chat_id = -1_000_000_000_000 - abs(chat_id) % 1_000_000_000_000
            while new_chat_id in self.chats:
                new_chat_id -= 1
        new = ChatRecord(
            id=new_chat_id,
            type="supergroup",
            title=old.title,
            username=old.username,
            is_forum=old.is_forum,
            members=dict(old.members),
            bot_status=dict(old.bot_status),
            default_bot_status=old.default_bot_status,
            migrated_from=chat_id,
            topics=dict(old.topics),
        )
        self.chats[new_chat_id] = new
        old.migrated_to = new_chat_id
        for bot in self.bots.values():
            if chat_id in bot.known_chats:
                bot.known_chats.add(new_chat_id)
        return new_chat_id

    def _user_dict(self, user_id: int) -> dict[str, Any]:
        return self.users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User {user_id}",
        }

    def _chat_key(self, bot_id: int, chat_id: int) -> tuple[int, int]:
        """Private chats are per bot (each bot has its own chat with a user)."""
        return (bot_id, chat_id) if chat_id > 0 else (0, chat_id)

    def _resolve_chat(self, bot: BotState, value: Any, *, send: bool = True) -> ChatRecord:
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        chat: ChatRecord | None = None
        if isinstance(value, str) and value.startswith("@"):
            name = value[1:].lower()
            chat = next(
                (c for c in self.chats.values() if (c.username or "").lower() == name), None
            )
        elif isinstance(value, str) and _INT_RE.match(value.strip()):
            chat = self.chats.get(int(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            chat = self.chats.get(value)
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise migrated(chat.migrated_to)
        if chat.type == "private":
            if chat.id not in bot.known_chats:
                raise bad_request("chat not found")
            if send and chat.id in bot.blocked:
                raise forbidden("bot was blocked by the user")
        elif send:
            status = chat.bot_status.get(bot.id, chat.default_bot_status)
            kind = "supergroup" if chat.type == "supergroup" else "group"
            if status == "kicked":
                raise forbidden(f"bot was kicked from the {kind} chat")
            if status == "left":
                raise forbidden(f"bot is not a member of the {kind} chat")
        return chat

    # ------------------------------------------------------------------ messages

    def _next_message_id(self, key: tuple[int, int]) -> int:
        value = self._counters.get(key, 0) + 1
        self._counters[key] = value
        return value

    def _store(self, key: tuple[int, int], msg: StoredMessage) -> StoredMessage:
        self._messages.setdefault(key, {})[msg.message_id] = msg
        self._touch()
        return msg

    def _store_bot_message(
        self,
        bot: BotState,
        chat: ChatRecord,
        *,
        kind: str = "text",
        text: str | None = None,
        raw: str | None = None,
        parse_mode: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_markup: dict[str, Any] | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
        media: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> StoredMessage:
        key = self._chat_key(bot.id, chat.id)
        msg = StoredMessage(
            chat_id=chat.id,
            message_id=self._next_message_id(key),
            seq=next(self._seq),
            from_bot=True,
            bot_id=bot.id,
            sender=bot.user_dict(),
            chat=chat.to_dict(),
            date=int(self.wall_clock()),
            kind=kind,
            text=text,
            raw=raw,
            parse_mode=parse_mode,
            entities=entities or [],
            reply_markup=reply_markup,
            thread_id=thread_id,
            reply_to_message_id=reply_to,
            media=media,
            extra=extra or {},
        )
        if isinstance(reply_markup, dict) and (
            "keyboard" in reply_markup or "remove_keyboard" in reply_markup
        ):
            self._reply_keyboards[key] = reply_markup if "keyboard" in reply_markup else None
        return self._store(key, msg)

    def _find(self, bot: BotState, chat_id: int, message_id: Any) -> StoredMessage | None:
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            return None
        return self._messages.get(self._chat_key(bot.id, chat_id), {}).get(message_id)

    def message_json(self, msg: StoredMessage, *, nested: bool = True) -> dict[str, Any]:
        """The message as Telegram's Message object (what the API returns for it)."""
        if not msg.from_bot and msg.data is not None:
            data = dict(msg.data)
        else:
            data = {
                "message_id": msg.message_id,
                "from": msg.sender,
                "chat": msg.chat,
                "date": msg.date,
            }
            if msg.thread_id is not None:
                data["message_thread_id"] = msg.thread_id
                if msg.chat.get("is_forum"):
                    data["is_topic_message"] = True
            if msg.kind == "text":
                data["text"] = msg.text
                if msg.entities:
                    data["entities"] = msg.entities
            else:
                data[msg.kind] = msg.media
                if msg.text:
                    data["caption"] = msg.text
                    if msg.entities:
                        data["caption_entities"] = msg.entities
            data.update(msg.extra)
            markup = msg.reply_markup
            if isinstance(markup, dict) and markup.get("inline_keyboard"):
                data["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
            if msg.edit_date:
                data["edit_date"] = msg.edit_date
        if nested and msg.reply_to_message_id is not None and "reply_to_message" not in data:
            target = self._messages.get(self._chat_key(msg.bot_id, msg.chat_id), {}).get(
                msg.reply_to_message_id
            )
            if target is not None:
                data["reply_to_message"] = self.message_json(target, nested=False)
        return data

    def messages(
        self,
        chat_id: int,
        *,
        token: str | None = None,
        include_user: bool = False,
        include_deleted: bool = False,
        thread_id: int | None = None,
    ) -> list[StoredMessage]:
        """What the bot said in a chat, oldest first (``include_user``: the whole chat)."""
        key = self._chat_key(self.bot(token).id, chat_id)
        return [
            m
            for m in self._messages.get(key, {}).values()
            if (include_user or m.from_bot)
            and (include_deleted or not m.deleted)
            and (thread_id is None or m.thread_id == thread_id)
        ]

    def last_message(
        self, chat_id: int, *, token: str | None = None, include_deleted: bool = False
    ) -> StoredMessage | None:
        found = self.messages(chat_id, token=token, include_deleted=include_deleted)
        return found[-1] if found else None

    def get_message(
        self, chat_id: int, message_id: int, *, token: str | None = None
    ) -> StoredMessage | None:
        return self._find(self.bot(token), chat_id, message_id)

    def reply_keyboard(self, chat_id: int, *, token: str | None = None) -> dict[str, Any] | None:
        """The reply keyboard the user sees now (None after ReplyKeyboardRemove)."""
        return self._reply_keyboards.get(self._chat_key(self.bot(token).id, chat_id))

    def all_messages(self) -> list[StoredMessage]:
        found = [m for chat in self._messages.values() for m in chat.values()]
        return sorted(found, key=lambda m: m.seq)

    # ------------------------------------------------------------------ files

    def add_file(
        self,
        content: bytes,
        file_name: str | None = "file.pdf",
        *,
        mime_type: str | None = None,
        kind: str = "document",
    ) -> FileRecord:
        """Register a file a user "uploads": updates carry its ``file_id``; the bot can
        getFile and download it."""
        number = next(self._file_ids)
        prefix = {"document": "BQAC", "photo": "AgAC", "voice": "AwAC"}.get(kind, "CAAC")
        ext = ""
        if file_name and "." in file_name:
            ext = file_name.rsplit(".", 1)[1]
        elif kind == "photo":
            ext = "jpg"
        folder = {"photo": "photos", "voice": "voice"}.get(kind, "documents")
        record = FileRecord(
            file_id=f"{prefix}{number:06d}fake",
            file_unique_id=f"AgADfake{number}",
            data=bytes(content),
            file_name=file_name,
            mime_type=mime_type or _guess_mime(file_name, kind),
            kind=kind,
            file_path=f"{folder}/file_{number}{'.' + ext if ext else ''}",
        )
        self.files[record.file_id] = record
        self._file_paths[record.file_path] = record
        return record

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        bot = self.bots.get(token)
        record = self._file_paths.get(request.match_info["path"])
        if bot is None or bot.revoked or record is None:
            return web.Response(
                status=404, body=dumps(NOT_FOUND.to_dict()), content_type="application/json"
            )
        return web.Response(body=record.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ updates

    def push_update(
        self,
        update: dict[str, Any],
        *,
        token: str | None = None,
        update_id: int | None = None,
        copies: int = 1,
    ) -> int:
        """Queue an update for the bot (the factory's dicts); returns its update_id.

        The server numbers the message (if it has no message_id), remembers chats, users
        and callback queries. ``copies=2`` delivers the same update twice (same id)."""
        bot = self.bot(token)
        update = {k: v for k, v in update.items() if k != "update_id"}
        self._ingest(bot, update)
        if update_id is None:
            update_id = bot.next_update_id
        bot.next_update_id = max(bot.next_update_id, update_id + 1)
        data = {"update_id": update_id, **update}
        self._enqueue(bot, data, copies)
        return update_id

    def push_raw(self, data: dict[str, Any], *, token: str | None = None, copies: int = 1) -> int:
        """Queue any JSON as an update, untouched (an update_id is added if missing)."""
        bot = self.bot(token)
        if not isinstance(data.get("update_id"), int):
            data = {"update_id": bot.next_update_id, **data}
        bot.next_update_id = max(bot.next_update_id, data["update_id"] + 1)
        self._enqueue(bot, data, copies)
        return data["update_id"]

    def redeliver(self, update_id: int, *, token: str | None = None) -> int:
        """Deliver an already pushed update again, with the same update_id."""
        bot = self.bot(token)
        entry = bot.history[update_id]
        self._enqueue(bot, entry.data, 1)
        return update_id

    def clock_of_update(self, update_id: int, *, token: str | None = None) -> float:
        """When the update was (last) pushed, on ``clock`` (the time of calls): the bot's
        latency for it is a later call's ``time`` minus this."""
        return self.bot(token).history[update_id].queued_at

    def _enqueue(self, bot: BotState, data: dict[str, Any], copies: int) -> None:
        kind = next((k for k in data if k != "update_id"), "unknown")
        payload = dumps(data)
        for _ in range(max(1, copies)):
            entry = UpdateEntry(data["update_id"], kind, payload, data, queued_at=self.clock())
            bot.queue.append(entry)
            bot.history[entry.update_id] = entry
        self._wake(bot, "data")
        self._touch()

    def _ingest(self, bot: BotState, update: dict[str, Any]) -> None:
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(key)
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                self._ingest_message(bot, message, edited=key.startswith("edited"))
        query = update.get("callback_query")
        if isinstance(query, dict):
            self._remember_user(query.get("from"))
            if not query.get("id"):
                query["id"] = f"{bot.id}{next(self._query_ids):010d}"
            message = query.get("message") if isinstance(query.get("message"), dict) else {}
            chat_id = (message.get("chat") or {}).get("id")
            self.callbacks[str(query["id"])] = CallbackRecord(
                id=str(query["id"]),
                bot_id=bot.id,
                user_id=(query.get("from") or {}).get("id", 0),
                chat_id=chat_id,
                message_id=message.get("message_id"),
                data=query.get("data"),
                created=self.clock(),
            )
            if isinstance(chat_id, int) and chat_id > 0:
                bot.known_chats.add(chat_id)
        for key in ("my_chat_member", "chat_member"):
            member = update.get(key)
            if not isinstance(member, dict) or not isinstance(member.get("chat"), dict):
                continue
            chat = self._ensure_chat(member["chat"])
            self._remember_user(member.get("from"))
            new = member.get("new_chat_member") or {}
            status = new.get("status")
            subject = (new.get("user") or {}).get("id")
            if key == "my_chat_member":
                if chat.type == "private":
                    bot.known_chats.add(chat.id)
                    if status == "kicked":
                        bot.blocked.add(chat.id)
                    elif status == "member":
                        bot.blocked.discard(chat.id)
                else:
                    chat.bot_status[bot.id] = status or "member"
                    bot.known_chats.add(chat.id)
            elif isinstance(subject, int):
                chat.members[subject] = status or "member"

    def _ingest_message(self, bot: BotState, message: dict[str, Any], *, edited: bool) -> None:
        chat = self._ensure_chat(message["chat"])
        sender = message.get("from")
        self._remember_user(sender)
        bot.known_chats.add(chat.id)
        if chat.is_group and isinstance(sender, dict) and "id" in sender:
            chat.members.setdefault(sender["id"], "member")
        key = self._chat_key(bot.id, chat.id)
        text = message.get("text", message.get("caption"))
        entities = message.get("entities") or message.get("caption_entities") or []
        if edited:
            existing = self._messages.get(key, {}).get(message.get("message_id"))
            if existing is not None and existing.from_bot:
                raise ValueError(
                    f"a user cannot edit the bot's message {existing.message_id} in chat {chat.id}"
                )
            if existing is not None:
                existing.history.append(existing.snapshot())
                existing.text = existing.raw = text
                existing.entities = entities
                existing.edit_date = message.get("edit_date")
                existing.data = {k: v for k, v in message.items() if k != "edit_date"}
                self._touch()
            return
        message_id = message.get("message_id")
        if not isinstance(message_id, int) or message_id <= 0:
            message_id = self._next_message_id(key)
            message["message_id"] = message_id
        else:
            self._counters[key] = max(self._counters.get(key, 0), message_id)
        thread_id = message.get("message_thread_id")
        if chat.is_forum and isinstance(thread_id, int):
            chat.topics.setdefault(thread_id, f"Topic {thread_id}")
        reply = message.get("reply_to_message")
        kind = next(
            (k for k in _MESSAGE_KINDS if k in message),
            "other",
        )
        self._store(
            key,
            StoredMessage(
                chat_id=chat.id,
                message_id=message_id,
                seq=next(self._seq),
                from_bot=False,
                bot_id=bot.id,
                sender=sender or {},
                chat=message["chat"],
                date=message.get("date", int(self.wall_clock())),
                kind=kind,
                text=text,
                raw=text,
                entities=entities,
                thread_id=thread_id,
                reply_to_message_id=reply.get("message_id") if isinstance(reply, dict) else None,
                media=message.get(kind) if kind != "text" else None,
                data=message,
            ),
        )

    def click(
        self,
        user: TgUser | FakeUser | dict[str, Any],
        message: StoredMessage | int | None = None,
        text: str | None = None,
        *,
        data: str | None = None,
        chat_id: int | None = None,
        token: str | None = None,
        force: bool = False,
    ) -> int:
        """Press an inline button: by ``text`` (exact, else a unique substring) or ``data``,
        on ``message`` (default: the bot's last message with an inline keyboard in the
        user's chat, or in ``chat_id``). ``force`` sends ``data`` even if no such button is
        there (a stale or forged callback). Returns the update_id."""
        if isinstance(user, FakeUser):
            user = user.tg
        user_data = user.to_dict() if isinstance(user, TgUser) else user
        chat_id = chat_id if chat_id is not None else user_data["id"]
        if isinstance(message, int):
            found = self.get_message(chat_id, message, token=token)
            if found is None:
                raise LookupError(f"no message {message} in chat {chat_id}")
            message = found
        if message is None:
            candidates = [m for m in self.messages(chat_id, token=token) if m.has_inline_keyboard]
            if not candidates:
                raise LookupError(f"no bot message with inline buttons in chat {chat_id}")
            message = candidates[-1]
        if message.deleted and not force:
            raise LookupError(f"message {message.message_id} in chat {chat_id} was deleted")
        if not force or data is None:
            button = message.button(text, data=data)
            if "callback_data" not in button:
                raise LookupError(f"button {button.get('text')!r} has no callback_data: {button}")
            data = button["callback_data"]
        update = self.factory.callback(user_data, self.message_json(message), data)
        return self.push_update(update, token=token)

    # ------------------------------------------------------------------ faults

    def add_fault(self, fault: Fault | None = None, **kwargs: Any) -> Fault:
        """Switch a fault on: ``add_fault(kind="retry_after", method="sendMessage", times=2)``."""
        return self.faults.add(fault if fault is not None else Fault(**kwargs))

    def retry_after(self, seconds: int = 1, **kwargs: Any) -> Fault:
        """429 Too Many Requests with ``retry_after`` (next call by default)."""
        return self.add_fault(kind="retry_after", retry_after=seconds, **kwargs)

    def server_error(self, status: int = 500, **kwargs: Any) -> Fault:
        """500 Internal Server Error / 502 Bad Gateway..."""
        return self.add_fault(kind="server_error", status=status, **kwargs)

    def drop_connection(self, *, after: bool = False, **kwargs: Any) -> Fault:
        """Close the connection without answering (``after``: the method did happen)."""
        return self.add_fault(kind="drop", after=after, **kwargs)

    def slow(self, delay: float, **kwargs: Any) -> Fault:
        """Answer after ``delay`` seconds (``times=None`` for every call)."""
        kwargs.setdefault("times", None)
        return self.add_fault(kind="delay", delay=delay, **kwargs)

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_rate_limits(self, limits: RateLimits | None = None, **kwargs: Any) -> RateLimits:
        """Switch Telegram-like rate limits on: ``set_rate_limits(RateLimits.telegram(0.01))``
        or ``set_rate_limits(per_chat=(1, 0.2), per_group=(20, 2.0), per_bot=(30, 0.1))``;
        ``set_rate_limits(RateLimits())`` switches them off."""
        limits = limits if limits is not None else RateLimits(**kwargs)
        self.limiter.configure(limits)
        return limits

    def _rate_check(self, bot: BotState, method: str, chat: ChatRecord | None) -> None:
        self.limiter.check(
            method, bot.token, chat.id if chat else None, bool(chat and chat.is_group)
        )

    # ------------------------------------------------------------------ problems

    def expect_problem(self, *patterns: str) -> None:
        """Problems matching a pattern (case-insensitive substring of
        "method: description") do not fail the test."""
        self._allowed_problems.extend(p.lower() for p in patterns)
        keep = []
        for problem in self.problems:
            if self._is_expected(problem):
                self.expected_problems.append(problem)
            else:
                keep.append(problem)
        self.problems = keep

    expect_problems = expect_problem

    def _is_expected(self, problem: Problem) -> bool:
        text = f"{problem.method}: {problem.description}".lower()
        return any(p in text for p in self._allowed_problems)

    def _add_problem(self, problem: Problem) -> None:
        if self._is_expected(problem):
            self.expected_problems.append(problem)
        else:
            log.warning("fake Bot API problem: %s", problem)
            self.problems.append(problem)

    def take_problems(self) -> list[Problem]:
        found, self.problems = self.problems, []
        return found

    def unanswered_callbacks(self, *, token: str | None = None) -> list[CallbackRecord]:
        bot_id = self.bot(token).id
        return [c for c in self.callbacks.values() if c.bot_id == bot_id and not c.answered]

    def check(self) -> None:
        """Raise AssertionError if the bot did something Telegram would refuse."""
        found = list(self.problems)
        if self.require_callback_answers:
            found += [
                Problem("answerCallbackQuery", f"query {c.id} ({c.data!r}) never answered", {})
                for c in self.callbacks.values()
                if not c.answered
            ]
        if found and self.strict:
            lines = "\n".join(f"  - {p}" for p in found)
            raise AssertionError(
                "the bot made Bot API calls real Telegram would refuse (say "
                "server.expect_problem('...') if the test means it):\n" + lines
            )

    # ------------------------------------------------------------------ HTTP

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                body = await request.read()
                data = orjson.loads(body) if body else {}
                if not isinstance(data, dict):
                    raise bad_request("request body must be a JSON object")
                params = {k: decode_param(k, v) for k, v in raw.items()}
                params.update(data)
                return params
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, FileField):
                    files[key] = UploadedFile(value.filename, value.content_type, value.file.read())
                else:
                    raw[key] = value if isinstance(value, str) else bytes(value).decode()
        params = {k: decode_param(k, v) for k, v in raw.items()}
        return _attach_files(params, files)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        name = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            return _error_response(exc)
        except web.HTTPRequestEntityTooLarge:
            error = ApiError(413, "Request Entity Too Large")
            self._add_problem(Problem(name, error.description, {}))
            return _error_response(error)
        except Exception as exc:  # a request aiohttp could not read
            return _error_response(bad_request(f"can't parse request: {exc}"))
        try:
            status, body = await self.invoke(token, name, params)
        except _Drop:
            transport = request.transport
            if transport is not None:
                transport.close()
            raise asyncio.CancelledError from None
        return web.Response(status=status, body=body, content_type="application/json")

    async def invoke(
        self, token: str, name: str, params: dict[str, Any], *, via: str = "http"
    ) -> tuple[int, bytes]:
        """Run one Bot API call: record it, apply faults, answer (status, JSON body)."""
        method = name.lower()
        call = Call(
            seq=len(self.calls) + 1,
            method=_CANONICAL.get(method, name),
            params=params,
            token=token,
            time=self.clock(),
            via=via,
        )
        self.calls.append(call)
        loop = asyncio.get_running_loop()
        started = loop.time()
        counted = method != "getupdates"
        if counted:
            self._in_flight += 1
        self._touch()
        try:
            bot = self.bots.get(token)
            if bot is None:
                if not _TOKEN_RE.match(token):
                    raise ApiError(404, "Not Found", problem=False)
                bot = self.add_bot(token)
            if bot.revoked:
                raise UNAUTHORIZED
            result = await self._execute(bot, method, params, call)
            description = None
            if isinstance(result, tuple):
                result, description = result
            call.status = 200
            if isinstance(result, _RawUpdates):
                call.result = [e.update_id for e in result.entries]
                body = b'{"ok":true,"result":[' + b",".join(e.payload for e in result.entries)
                body += b"]}"
            else:
                call.result = result
                answer: dict[str, Any] = {"ok": True, "result": result}
                if description:
                    answer["description"] = description
                body = dumps(answer)
            return 200, body
        except ApiError as exc:
            call.status = exc.code
            call.description = exc.description
            call.parameters = exc.parameters
            if exc.problem:
                self._add_problem(Problem(call.method, exc.description, params, call.seq))
            return exc.code, dumps(exc.to_dict())
        except _Drop:
            call.dropped = True
            raise
        except asyncio.CancelledError:
            call.dropped = True
            raise
        except Exception as exc:
            log.exception("fake Bot API failed on %s", name)
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._add_problem(
                Problem(call.method, f"fake server error: {detail}", params, call.seq)
            )
            call.status = 500
            call.description = "Internal Server Error"
            return 500, dumps(
                {"ok": False, "error_code": 500, "description": "Internal Server Error"}
            )
        finally:
            call.finished = True
            call.duration = loop.time() - started
            if counted:
                self._in_flight -= 1
            for hook in self._on_call:
                hook(call)
            self._touch()

    async def _execute(self, bot: BotState, method: str, params: dict[str, Any], call: Call) -> Any:
        drop_after = False
        for fault in self.faults.pick(method, bot.token, params.get("chat_id")):
            call.fault = fault.kind
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "drop":
                if not fault.after:
                    raise _Drop
                drop_after = True
            else:
                raise fault.error()
        handler = self._handlers.get(method)
        if handler is None:
            raise ApiError(404, "Not Found", problem=True)
        result = await handler(self, bot, params, call)
        if drop_after:
            raise _Drop
        return result

    # ------------------------------------------------------------------ polling

    def _wake(self, bot: BotState, reason: str) -> None:
        poller = bot.poller
        if poller is not None and not poller.done():
            poller.set_result(reason)
        bot.wakeup.set()

    def _confirm(self, bot: BotState, offset: Any) -> None:
        if not isinstance(offset, int) or isinstance(offset, bool):
            return
        queue = bot.queue
        if offset < 0:
            while len(queue) > -offset:
                queue.popleft()
            return
        while queue and queue[0].update_id < offset and queue[0].deliveries > 0:
            queue.popleft()
        if any(e.update_id < offset and e.deliveries > 0 for e in queue):
            kept = [e for e in queue if not (e.update_id < offset and e.deliveries > 0)]
            queue.clear()
            queue.extend(kept)

    def _take(self, bot: BotState, limit: int, allowed: frozenset[str]) -> list[UpdateEntry]:
        batch: list[UpdateEntry] = []
        filtered: list[UpdateEntry] = []
        for entry in bot.queue:
            if entry.type not in allowed:
                filtered.append(entry)
                continue
            batch.append(entry)
            if len(batch) >= limit:
                break
        if filtered:
            for entry in filtered:
                bot.queue.remove(entry)
                bot.filtered.append(entry.update_id)
        for entry in batch:
            entry.deliveries += 1
        return batch

    async def _poll(self, bot: BotState, offset: Any, limit: int, timeout: float) -> _RawUpdates:
        if bot.poller is not None and not bot.poller.done():
            bot.poller.set_result("conflict")
        bot.polled = True
        self._confirm(bot, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._take(bot, limit, bot.allowed_updates)
            if batch or self._closing:
                return _RawUpdates(batch)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return _RawUpdates([])
            future: asyncio.Future[str] = loop.create_future()
            bot.poller = future
            try:
                await asyncio.wait({future}, timeout=remaining)
            finally:
                if bot.poller is future:
                    bot.poller = None
            reason = future.result() if future.done() else None
            if not future.done():
                future.cancel()
            if reason == "conflict":
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                    problem=False,
                )
            if reason == "webhook":
                raise ApiError(409, "Conflict: terminated by setWebhook request", problem=False)

    # ------------------------------------------------------------------ webhook

    def _start_webhook(self, bot: BotState, hook: Webhook) -> None:
        self._stop_webhook(bot)
        bot.webhook = hook
        self._wake(bot, "webhook")
        workers = max(1, min(self.webhook_concurrency, hook.max_connections))
        for _ in range(workers):
            task = asyncio.get_running_loop().create_task(self._webhook_worker(bot, hook))
            task._fakebot_hook = hook  # type: ignore[attr-defined]
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            hook.task = task

    def _stop_webhook(self, bot: BotState) -> None:
        hook = bot.webhook
        bot.webhook = None
        bot.webhook_blocked = 0
        if hook is not None:
            for task in list(self._tasks):
                if getattr(task, "_fakebot_hook", None) is hook:
                    task.cancel()
        bot.wakeup.set()

    async def _webhook_worker(self, bot: BotState, hook: Webhook) -> None:
        in_flight: set[int] = getattr(hook, "_in_flight", set())
        hook._in_flight = in_flight  # type: ignore[attr-defined]
        if self._webhook_session is None or self._webhook_session.closed:
            self._webhook_session = aiohttp.ClientSession()
        session = self._webhook_session
        while bot.webhook is hook and not self._closing:
            entry = None
            if not bot.webhook_blocked:
                allowed = (
                    frozenset(hook.allowed_updates) if hook.allowed_updates else DEFAULT_ALLOWED
                )
                for candidate in list(bot.queue):
                    if id(candidate) in in_flight:
                        continue
                    if candidate.type not in allowed:
                        bot.queue.remove(candidate)
                        bot.filtered.append(candidate.update_id)
                        continue
                    entry = candidate
                    break
            if entry is None:
                bot.wakeup.clear()
                await bot.wakeup.wait()
                continue
            in_flight.add(id(entry))
            self._in_flight += 1
            failed = False
            try:
                while bot.webhook is hook and not self._closing:
                    if await self._deliver(session, bot, hook, entry):
                        with contextlib.suppress(ValueError):
                            bot.queue.remove(entry)
                        break
                    if not failed:
                        failed = True
                        bot.webhook_blocked += 1
                    self._in_flight -= 1
                    self._touch()
                    await asyncio.sleep(self.webhook_retry_delay)
                    self._in_flight += 1
            finally:
                if failed and bot.webhook is hook:
                    bot.webhook_blocked -= 1
                in_flight.discard(id(entry))
                self._in_flight -= 1
                self._touch()
                bot.wakeup.set()

    async def _deliver(
        self, session: aiohttp.ClientSession, bot: BotState, hook: Webhook, entry: UpdateEntry
    ) -> bool:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        entry.deliveries += 1
        status: int | None = None
        error: str | None = None
        reply: tuple[str, dict[str, Any]] | None = None
        try:
            async with session.post(
                hook.url,
                data=entry.payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    reply = await _read_webhook_reply(response)
                else:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientError as exc:
            error = f"Connection error: {type(exc).__name__}"
        delivery = WebhookDelivery(entry.update_id, status, error, self.clock())
        hook.deliveries.append(delivery)
        bot.webhook_history.append(delivery)
        if error is not None:
            hook.last_error_date = int(self.wall_clock())
            hook.last_error_message = error
            return False
        if reply is not None:
            method, params = reply
            with contextlib.suppress(_Drop):
                await self.invoke(bot.token, method, params, via="webhook-reply")
        return True

    # ------------------------------------------------------------------ waiting

    def _touch(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._last_activity = asyncio.get_running_loop().time()
        self._notify()

    def _notify(self) -> None:
        if self._watchers:
            watchers, self._watchers = self._watchers, []
            for future in watchers:
                if not future.done():
                    future.set_result(None)

    async def _changed(self, timeout: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.append(future)
        try:
            await asyncio.wait({future}, timeout=timeout)
        finally:
            if not future.done():
                future.cancel()
                with contextlib.suppress(ValueError):
                    self._watchers.remove(future)

    async def wait_until(
        self,
        condition: Callable[[], Any],
        timeout: float = 5.0,
        *,
        describe: str | Callable[[], str] = "condition",
    ) -> Any:
        """Wait (event-driven) until ``condition()`` is truthy; returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = condition()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                text = describe() if callable(describe) else describe
                raise WaitTimeout(f"timed out after {timeout}s waiting for {text}")
            await self._changed(remaining)

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[StoredMessage], Any] | None = None,
        timeout: float = 5.0,
        *,
        token: str | None = None,
        since: int | None = None,
        include_user: bool = False,
    ) -> StoredMessage:
        """The next message the bot sends in ``chat_id`` (matching ``predicate``).

        Each chat has a read cursor: a message returned once is not returned again, so
        ``push; wait; push; wait`` reads the conversation in order. ``since=0`` looks at
        the whole chat again (``since`` is a message ``seq``)."""
        key = self._chat_key(self.bot(token).id, chat_id)
        cursor = self._read_cursor.get(key, 0) if since is None else since

        def find() -> StoredMessage | None:
            for msg in self._messages.get(key, {}).values():
                if msg.seq <= cursor or not (include_user or msg.from_bot):
                    continue
                if predicate is None or predicate(msg):
                    return msg
            return None

        def describe() -> str:
            said = [m for m in self._messages.get(key, {}).values() if m.seq > cursor]
            recent = [c for c in self.calls[-5:]]
            return (
                f"a bot message in chat {chat_id}; new messages there: {said}; "
                f"last calls: {[(c.method, c.status, c.description) for c in recent]}; "
                f"problems: {[str(p) for p in self.problems]}"
            )

        msg = await self.wait_until(find, timeout, describe=describe)
        self._read_cursor[key] = max(self._read_cursor.get(key, 0), msg.seq)
        return msg

    async def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 5.0, **kwargs: Any
    ) -> list[StoredMessage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found = []
        for _ in range(count):
            remaining = max(0.0, deadline - loop.time())
            found.append(await self.wait_for_message(chat_id, timeout=remaining, **kwargs))
        return found

    def mark_read(self, chat_id: int, *, token: str | None = None) -> None:
        """Move the chat's read cursor past everything said so far."""
        key = self._chat_key(self.bot(token).id, chat_id)
        seqs = [m.seq for m in self._messages.get(key, {}).values()]
        self._read_cursor[key] = max(seqs, default=0)

    async def wait_for_edit(
        self,
        chat_id: int,
        message_id: int,
        predicate: Callable[[StoredMessage], Any] | None = None,
        timeout: float = 5.0,
        *,
        token: str | None = None,
    ) -> StoredMessage:
        """Wait until the message is edited (again) and matches ``predicate``."""
        msg = self.get_message(chat_id, message_id, token=token)
        if msg is None:
            raise LookupError(f"no message {message_id} in chat {chat_id}")
        start = len(msg.history)

        def edited() -> StoredMessage | None:
            if len(msg.history) > start and (predicate is None or predicate(msg)):
                return msg
            return None

        return await self.wait_until(edited, timeout, describe=lambda: f"an edit of {msg!r}")

    async def wait_for_call(
        self,
        method: str | None = None,
        predicate: Callable[[Call], Any] | None = None,
        timeout: float = 5.0,
        *,
        since: int | None = None,
    ) -> Call:
        """The next finished call of ``method`` (any method if None) matching
        ``predicate``; a per-method cursor makes repeated waits return later calls."""
        name = method.lower() if method else None
        cursor = self._call_cursor.get(name, 0) if since is None else since

        def find() -> Call | None:
            calls = self.calls
            for index in range(cursor, len(calls)):
                call = calls[index]
                if not call.finished:
                    continue
                if name is not None and call.method.lower() != name:
                    continue
                if predicate is None or predicate(call):
                    return call
            return None

        def describe() -> str:
            recent = self.calls[cursor:][-10:]
            return (
                f"a {method or 'any'} call; calls since: "
                f"{[(c.method, c.status, c.description) for c in recent]}"
            )

        call = await self.wait_until(find, timeout, describe=describe)
        self._call_cursor[name] = max(self._call_cursor.get(name, 0), call.seq)
        return call

    def calls_to(self, method: str) -> list[Call]:
        name = method.lower()
        return [c for c in self.calls if c.method.lower() == name]

    def method_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.method] = counts.get(call.method, 0) + 1
        return counts

    def is_idle(self, quiet: float = 0.05) -> bool:
        if self._in_flight > 0:
            return False
        for bot in self.bots.values():
            if (bot.polled or bot.webhook is not None) and bot.queue:
                return False
        now = asyncio.get_running_loop().time()
        return now - self._last_activity >= quiet

    async def wait_idle(self, quiet: float = 0.05, timeout: float = 5.0) -> None:
        """Wait until every queued update was confirmed (polling) or delivered (webhook)
        for bots that poll or have a webhook, no request is in flight (a parked
        getUpdates does not count) and nothing happened for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.is_idle(quiet):
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                pending = {b.id: [e.update_id for e in b.queue] for b in self.bots.values()}
                raise WaitTimeout(
                    f"not idle after {timeout}s: {self._in_flight} request(s) in flight, "
                    f"pending updates {pending}"
                )
            wait = remaining
            if self._in_flight == 0:
                quiet_left = quiet - (loop.time() - self._last_activity)
                if quiet_left > 0:
                    wait = min(wait, quiet_left + 0.001)
            await self._changed(wait)

    async def wait_confirmed(
        self, update_id: int, timeout: float = 5.0, *, token: str | None = None
    ) -> None:
        """Wait until the update was confirmed (polling) or delivered (webhook)."""
        bot = self.bot(token)
        await self.wait_until(
            lambda: all(e.update_id != update_id for e in bot.queue),
            timeout,
            describe=f"update {update_id} to be confirmed",
        )

    # ------------------------------------------------------------------ misc

    def reset_calls(self) -> None:
        self.calls.clear()
        self._call_cursor.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "calls": len(self.calls),
            "methods": self.method_counts(),
            "messages": sum(len(m) for m in self._messages.values()),
            "pending": {str(b.id): len(b.queue) for b in self.bots.values()},
            "in_flight": self._in_flight,
            "problems": len(self.problems),
        }

    def on_call(self, hook: Callable[[Call], Any]) -> None:
        """Run ``hook(call)`` after every call (for custom bookkeeping in tests)."""
        self._on_call.append(hook)


_MESSAGE_KINDS = (
    "text",
    "document",
    "photo",
    "sticker",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "contact",
    "location",
    "venue",
    "poll",
    "dice",
)


def _guess_mime(file_name: str | None, kind: str) -> str | None:
    if kind == "photo":
        return None
    import mimetypes

    if file_name:
        guessed, _ = mimetypes.guess_type(file_name)
        if guessed:
            return guessed
    return "application/octet-stream"


def _attach_files(params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
    if not files:
        return params
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            name = value[len("attach://") :]
            if name in files:
                params[key] = files.pop(name)
    for key, upload in files.items():
        params.setdefault(key, upload)
    return params


def _error_response(exc: ApiError) -> web.Response:
    return web.Response(status=exc.code, body=dumps(exc.to_dict()), content_type="application/json")


async def _read_webhook_reply(
    response: aiohttp.ClientResponse,
) -> tuple[str, dict[str, Any]] | None:
    """A method the bot answered the webhook request with (Telegram executes it)."""
    ctype = response.content_type
    if ctype == "application/json":
        body = await response.read()
        if not body:
            return None
        data = orjson.loads(body)
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            method = data.pop("method")
            return method, data
        return None
    if ctype == "multipart/form-data":
        reader = aiohttp.MultipartReader(response.headers, response.content)
        raw: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename:
                files[part.name] = UploadedFile(part.filename, None, bytes(await part.read()))
            else:
                raw[part.name] = await part.text()
        method = raw.pop("method", None)
        if not method:
            return None
        params = {k: decode_param(k, v) for k, v in raw.items()}
        return method, _attach_files(params, files)
    return None


_CANONICAL: dict[str, str] = {}
_HANDLERS: dict[str, Callable[..., Awaitable[Any]]] = {}
for _name in dir(BotApiMethods):
    if _name.startswith("api_"):
        _CANONICAL[_name[4:].lower()] = _name[4:]
        _HANDLERS[_name[4:].lower()] = getattr(BotApiMethods, _name)
FakeTelegramServer._handlers = _HANDLERS  # type: ignore[attr-defined]
IMPLEMENTED_METHODS: tuple[str, ...] = tuple(sorted(_CANONICAL.values()))


__all__ = [
    "DEFAULT_TOKEN",
    "IMPLEMENTED_METHODS",
    "FakeTelegramServer",
    "WaitTimeout",
    "admin_rights",
    "decode_param",
    "dumps",
]
