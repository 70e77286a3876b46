"""The Bot API methods the fake server implements (``api_<methodName>``).

Each takes the bot's state, the decoded parameters and the call record, and returns
the ``result`` (or ``(result, description)``), or raises ``ApiError``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from .errors import NOT_MODIFIED, QUERY_TOO_OLD, ApiError, bad_request
from .factory import admin_rights
from .state import DEFAULT_ALLOWED, BotState, Call, ChatRecord, FileRecord, UploadedFile, Webhook
from .validation import (
    MAX_CALLBACK_ANSWER,
    MAX_CAPTION,
    check_reply_markup,
    format_text,
    strip_for_compare,
)

if TYPE_CHECKING:
    from .server import FakeTelegramServer
    from .state import StoredMessage

Params = dict[str, Any]

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_MAX_DOWNLOAD = 20 * 1024 * 1024
_MAX_UPLOAD = 50 * 1024 * 1024


def _int(p: Params, name: str, *, required: bool = False, missing: str | None = None) -> int | None:
    value = p.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(missing or f"{name} is empty")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise bad_request(f"invalid {name} specified")
    return value


def _bool(p: Params, name: str) -> bool:
    value = p.get(name)
    return value is True or value in ("true", "True", "1", 1)


class BotApiMethods:
    """Mixed into ``FakeTelegramServer``; see the module docstring."""

    # ---- shared helpers -----------------------------------------------------------

    def _thread_id(self: FakeTelegramServer, chat: ChatRecord, p: Params) -> int | None:
        thread_id = _int(p, "message_thread_id")
        if thread_id is None or not chat.is_forum:
            return thread_id
        if thread_id != 1 and thread_id not in chat.topics:
            raise bad_request("message thread not found")
        return thread_id

    def _reply_to(
        self: FakeTelegramServer, bot: BotState, chat: ChatRecord, p: Params
    ) -> int | None:
        params = p.get("reply_parameters")
        target = _int(p, "reply_to_message_id")
        allow = _bool(p, "allow_sending_without_reply")
        if isinstance(params, dict):
            target = params.get("message_id")
            allow = bool(params.get("allow_sending_without_reply", allow))
        if target is None:
            return None
        msg = self._find(bot, chat.id, target)
        if msg is None or msg.deleted:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return msg.message_id

    def _markup(self: FakeTelegramServer, p: Params, *, inline_only: bool = False) -> Any:
        markup = p.get("reply_markup")
        if isinstance(markup, str):
            raise bad_request("can't parse reply keyboard markup JSON object")
        check_reply_markup(markup)
        if inline_only and markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        return markup

    def _editable(
        self: FakeTelegramServer, bot: BotState, p: Params
    ) -> tuple[ChatRecord, StoredMessage]:
        if p.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._resolve_chat(bot, p.get("chat_id"))
        message_id = _int(
            p, "message_id", required=True, missing="message identifier is not specified"
        )
        msg = self._find(bot, chat.id, message_id)
        if msg is None or msg.deleted:
            raise bad_request("message to edit not found")
        if not msg.from_bot or msg.bot_id != bot.id:
            raise bad_request("message can't be edited")
        return chat, msg

    def _save_version(self: FakeTelegramServer, msg: StoredMessage) -> None:
        msg.history.append(msg.snapshot())
        msg.edit_date = int(self.wall_clock())

    def _upload(self: FakeTelegramServer, value: Any, field: str, kind: str) -> FileRecord:
        if isinstance(value, UploadedFile):
            if not value.data:
                raise bad_request("file must be non-empty")
            if value.size > _MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            name = value.filename if kind != "photo" else None
            return self.add_file(value.data, name, mime_type=value.content_type, kind=kind)
        if isinstance(value, str) and value:
            if value in self.files:
                return self.files[value]
            if value.startswith(("http://", "https://")):
                name = value.rsplit("/", 1)[-1] or "file"
                return self.add_file(b"", name if kind != "photo" else None, kind=kind)
            raise bad_request(
                "wrong remote file identifier specified: can't unserialize it. Wrong last symbol"
            )
        raise bad_request(f"there is no {field} in the request")

    # ---- bot identity -------------------------------------------------------------

    async def api_getMe(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        return bot.me()

    async def api_logOut(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        return True

    async def api_close(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        return True

    # ---- updates ------------------------------------------------------------------

    async def api_getUpdates(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        if bot.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
                problem=False,
            )
        limit = _int(p, "limit") or 100
        limit = min(max(limit, 1), 100)
        timeout = p.get("timeout") or 0
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            timeout = 0
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED
        return await self._poll(bot, p.get("offset"), limit, float(timeout))

    async def api_setWebhook(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        url = p.get("url") or ""
        if not url:
            existed = bot.webhook is not None
            self._stop_webhook(bot)
            return True, "Webhook was deleted" if existed else "Webhook is already deleted"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        if parts.hostname not in _LOOPBACK:
            raise bad_request(
                "bad webhook: the fake Bot API delivers only to loopback addresses "
                f"(127.0.0.1, localhost), not {parts.hostname}"
            )
        secret = p.get("secret_token")
        if secret is not None and (not isinstance(secret, str) or not _SECRET_RE.match(secret)):
            raise bad_request("secret token contains unallowed characters")
        max_connections = _int(p, "max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED
        if _bool(p, "drop_pending_updates"):
            bot.queue.clear()
        same = bot.webhook is not None and bot.webhook.url == url
        hook = Webhook(
            url=url,
            secret_token=secret,
            max_connections=max_connections,
            allowed_updates=sorted(bot.allowed_updates),
            ip_address=p.get("ip_address"),
        )
        self._start_webhook(bot, hook)
        return True, "Webhook is already set" if same else "Webhook was set"

    async def api_deleteWebhook(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        existed = bot.webhook is not None
        self._stop_webhook(bot)
        if _bool(p, "drop_pending_updates"):
            bot.queue.clear()
        return True, "Webhook was deleted" if existed else "Webhook is already deleted"

    async def api_getWebhookInfo(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        hook = bot.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.queue),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if hook.allowed_updates and frozenset(hook.allowed_updates) != DEFAULT_ALLOWED:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    # ---- sending ------------------------------------------------------------------

    async def api_sendMessage(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        thread_id = self._thread_id(chat, p)
        text, entities = format_text(p.get("text"), p.get("parse_mode"), p.get("entities"))
        markup = self._markup(p)
        reply_to = self._reply_to(bot, chat, p)
        self._rate_check(bot, "sendmessage", chat)
        msg = self._store_bot_message(
            bot,
            chat,
            text=text,
            raw=p.get("text"),
            parse_mode=p.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            thread_id=thread_id,
            reply_to=reply_to,
        )
        return self.message_json(msg)

    async def _send_media(
        self: FakeTelegramServer, bot: BotState, p: Params, field: str, method: str
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        thread_id = self._thread_id(chat, p)
        record = self._upload(p.get(field), field, "photo" if field == "photo" else "document")
        caption, entities = "", []
        if p.get("caption"):
            caption, entities = format_text(
                p.get("caption"),
                p.get("parse_mode"),
                p.get("caption_entities"),
                limit=MAX_CAPTION,
                field="caption",
            )
        markup = self._markup(p)
        reply_to = self._reply_to(bot, chat, p)
        self._rate_check(bot, method, chat)
        if field == "photo":
            media: Any = [
                {
                    "file_id": f"{record.file_id}-thumb",
                    "file_unique_id": f"{record.file_unique_id}-t",
                    "width": 90,
                    "height": 90,
                    "file_size": min(record.size, 1024),
                },
                {
                    "file_id": record.file_id,
                    "file_unique_id": record.file_unique_id,
                    "width": 800,
                    "height": 600,
                    "file_size": record.size,
                },
            ]
        else:
            media = record.document()
        msg = self._store_bot_message(
            bot,
            chat,
            kind=field,
            text=caption or None,
            raw=p.get("caption"),
            parse_mode=p.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            thread_id=thread_id,
            reply_to=reply_to,
            media=media,
        )
        return self.message_json(msg)

    async def api_sendDocument(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        return await self._send_media(bot, p, "document", "senddocument")

    async def api_sendPhoto(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        return await self._send_media(bot, p, "photo", "sendphoto")

    async def api_copyMessage(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        source_chat = self._resolve_chat(bot, p.get("from_chat_id"), send=False)
        source = self._find(bot, source_chat.id, _int(p, "message_id", required=True))
        if source is None or source.deleted:
            raise bad_request("message to copy not found")
        thread_id = self._thread_id(chat, p)
        text, entities = source.text, source.entities
        if "caption" in p and source.kind != "text":
            text, entities = format_text(
                p.get("caption"), p.get("parse_mode"), p.get("caption_entities"),
                limit=MAX_CAPTION, field="caption",
            )  # fmt: skip
        markup = self._markup(p)
        reply_to = self._reply_to(bot, chat, p)
        self._rate_check(bot, "copymessage", chat)
        msg = self._store_bot_message(
            bot,
            chat,
            kind=source.kind,
            text=text,
            raw=source.raw if text == source.text else p.get("caption"),
            parse_mode=source.parse_mode,
            entities=entities,
            reply_markup=markup,
            thread_id=thread_id,
            reply_to=reply_to,
            media=source.media,
        )
        msg.copied_from = (source.chat_id, source.message_id)
        return {"message_id": msg.message_id}

    async def api_forwardMessage(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        source_chat = self._resolve_chat(bot, p.get("from_chat_id"), send=False)
        source = self._find(bot, source_chat.id, _int(p, "message_id", required=True))
        if source is None or source.deleted:
            raise bad_request("message to forward not found")
        thread_id = self._thread_id(chat, p)
        self._rate_check(bot, "forwardmessage", chat)
        if source_chat.type == "channel":
            origin: dict[str, Any] = {
                "type": "channel",
                "chat": source_chat.to_dict(),
                "message_id": source.message_id,
                "date": source.date,
            }
        else:
            origin = {"type": "user", "sender_user": source.sender, "date": source.date}
        msg = self._store_bot_message(
            bot,
            chat,
            kind=source.kind,
            text=source.text,
            raw=source.raw,
            parse_mode=source.parse_mode,
            entities=source.entities,
            thread_id=thread_id,
            media=source.media,
            extra={"forward_origin": origin},
        )
        return self.message_json(msg)

    async def api_sendChatAction(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        action = p.get("action")
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._thread_id(chat, p)
        self.chat_actions.append((chat.id, action))
        return True

    # ---- editing ------------------------------------------------------------------

    async def api_editMessageText(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat, msg = self._editable(bot, p)
        if msg.kind != "text":
            raise bad_request("there is no text in the message to edit")
        text, entities = format_text(p.get("text"), p.get("parse_mode"), p.get("entities"))
        markup = self._markup(p, inline_only=True)
        if (
            text == msg.text
            and entities == msg.entities
            and strip_for_compare(markup) == strip_for_compare(msg.reply_markup)
        ):
            raise bad_request(NOT_MODIFIED)
        self._rate_check(bot, "editmessagetext", chat)
        self._save_version(msg)
        msg.text, msg.raw, msg.parse_mode = text, p.get("text"), p.get("parse_mode")
        msg.entities = entities
        msg.reply_markup = markup
        self._touch()
        return self.message_json(msg)

    async def api_editMessageCaption(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat, msg = self._editable(bot, p)
        if msg.kind == "text":
            raise bad_request("there is no caption in the message to edit")
        caption, entities = "", []
        if p.get("caption"):
            caption, entities = format_text(
                p.get("caption"), p.get("parse_mode"), p.get("caption_entities"),
                limit=MAX_CAPTION, field="caption",
            )  # fmt: skip
        markup = self._markup(p, inline_only=True)
        if (
            (caption or None) == msg.text
            and entities == msg.entities
            and strip_for_compare(markup) == strip_for_compare(msg.reply_markup)
        ):
            raise bad_request(NOT_MODIFIED)
        self._rate_check(bot, "editmessagecaption", chat)
        self._save_version(msg)
        msg.text, msg.raw, msg.parse_mode = caption or None, p.get("caption"), p.get("parse_mode")
        msg.entities = entities
        msg.reply_markup = markup
        self._touch()
        return self.message_json(msg)

    async def api_editMessageReplyMarkup(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat, msg = self._editable(bot, p)
        markup = self._markup(p, inline_only=True)
        if strip_for_compare(markup) == strip_for_compare(msg.reply_markup):
            raise bad_request(NOT_MODIFIED)
        self._rate_check(bot, "editmessagereplymarkup", chat)
        self._save_version(msg)
        msg.reply_markup = markup
        self._touch()
        return self.message_json(msg)

    async def api_deleteMessage(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        message_id = _int(
            p, "message_id", required=True, missing="message identifier is not specified"
        )
        self._delete(bot, chat, message_id)
        return True

    async def api_deleteMessages(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        ids = p.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must be a non-empty list of at most 100 ids")
        for message_id in ids:
            msg = self._find(bot, chat.id, message_id)
            if msg is not None and not msg.deleted:
                self._delete(bot, chat, message_id)
        return True

    def _delete(self: FakeTelegramServer, bot: BotState, chat: ChatRecord, message_id: Any) -> None:
        msg = self._find(bot, chat.id, message_id)
        if msg is None or msg.deleted:
            raise bad_request("message to delete not found")
        own = msg.from_bot and msg.bot_id == bot.id
        if chat.is_group:
            status = chat.bot_status.get(bot.id, chat.default_bot_status)
            if not own and status not in ("administrator", "creator"):
                raise bad_request("message can't be deleted")
        elif not own and self.wall_clock() - msg.date > 48 * 3600:
            raise bad_request("message can't be deleted for everyone")
        if own and self.wall_clock() - msg.date > 48 * 3600 and not chat.is_group:
            raise bad_request("message can't be deleted for everyone")
        msg.deleted = True
        self._touch()

    async def api_answerCallbackQuery(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        query_id = p.get("callback_query_id")
        record = self.callbacks.get(str(query_id)) if query_id is not None else None
        if record is None or record.bot_id != bot.id or record.answered:
            raise bad_request(QUERY_TOO_OLD)
        ttl = self.callback_query_ttl
        if ttl is not None and self.clock() - record.created > ttl:
            raise bad_request(QUERY_TOO_OLD, problem=False)
        text = p.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        record.answer = {
            "text": text,
            "show_alert": _bool(p, "show_alert"),
            "url": p.get("url"),
            "cache_time": p.get("cache_time"),
        }
        self._touch()
        return True

    # ---- files --------------------------------------------------------------------

    async def api_getFile(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        file_id = p.get("file_id")
        record = self.files.get(file_id) if isinstance(file_id, str) else None
        if record is None:
            raise bad_request("invalid file_id")
        if record.size > _MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
            "file_path": record.file_path,
        }

    # ---- commands and menu --------------------------------------------------------

    @staticmethod
    def _scope_key(p: Params) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        key = orjson.dumps(scope, option=orjson.OPT_SORT_KEYS).decode()
        return key, p.get("language_code") or ""

    async def api_setMyCommands(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for item in commands:
            if not isinstance(item, dict):
                raise bad_request("can't parse BotCommand JSON object")
            if not isinstance(item.get("command"), str) or not _COMMAND_RE.match(item["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            description = item.get("description")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        bot.commands[self._scope_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def api_getMyCommands(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        return bot.commands.get(self._scope_key(p), [])

    async def api_deleteMyCommands(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        bot.commands.pop(self._scope_key(p), None)
        return True

    async def api_setChatMenuButton(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat_id = None
        if p.get("chat_id") not in (None, ""):
            chat_id = self._resolve_chat(bot, p.get("chat_id"), send=False).id
        button = p.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button JSON object")
        bot.menu_buttons[chat_id] = button
        return True

    async def api_getChatMenuButton(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat_id = p.get("chat_id") if p.get("chat_id") not in (None, "") else None
        return bot.menu_buttons.get(chat_id) or bot.menu_buttons.get(None) or {"type": "commands"}

    async def _set_text(
        self: FakeTelegramServer, bot: BotState, p: Params, field: str, limit: int
    ) -> Any:
        value = p.get(field) or ""
        if len(value) > limit:
            raise bad_request(f"{field} is too long")
        bot.texts[(field, p.get("language_code") or "")] = value
        if field == "name" and value and not p.get("language_code"):
            bot.first_name = value
        return True

    def _get_text(self: FakeTelegramServer, bot: BotState, p: Params, field: str) -> Any:
        return {field: bot.texts.get((field, p.get("language_code") or ""), "")}

    async def api_setMyDescription(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        return await self._set_text(bot, p, "description", 512)

    async def api_getMyDescription(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        return self._get_text(bot, p, "description")

    async def api_setMyShortDescription(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        return await self._set_text(bot, p, "short_description", 120)

    async def api_getMyShortDescription(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        return self._get_text(bot, p, "short_description")

    async def api_setMyName(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        return await self._set_text(bot, p, "name", 64)

    async def api_getMyName(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        found = self._get_text(bot, p, "name")
        return found if found["name"] else {"name": bot.first_name}

    # ---- chats --------------------------------------------------------------------

    async def api_getChat(self: FakeTelegramServer, bot: BotState, p: Params, call: Call) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"), send=False)
        info = chat.to_dict()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.type == "private":
            user = self.users.get(chat.id, {})
            for key in ("first_name", "last_name", "username"):
                if user.get(key) and key not in info:
                    info[key] = user[key]
        elif chat.migrated_from is not None:
            pass
        return info

    def _member(
        self: FakeTelegramServer, bot: BotState, chat: ChatRecord, user_id: int
    ) -> dict[str, Any]:
        if user_id == bot.id:
            status = (
                "member"
                if chat.type == "private"
                else chat.bot_status.get(bot.id, chat.default_bot_status)
            )
            user = bot.user_dict()
        else:
            user = self._user_dict(user_id)
            if chat.type == "private":
                status = "member" if user_id == chat.id else "left"
            else:
                status = chat.members.get(user_id, "left")
        return member_json(user, status)

    async def api_getChatMember(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"), send=False)
        user_id = _int(p, "user_id", required=True, missing="user not found")
        return self._member(bot, chat, user_id)

    async def api_getChatAdministrators(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"), send=False)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        admins = [
            member_json(self._user_dict(uid), status)
            for uid, status in chat.members.items()
            if status in ("creator", "administrator")
        ]
        if chat.bot_status.get(bot.id, chat.default_bot_status) in ("creator", "administrator"):
            admins.append(self._member(bot, chat, bot.id))
        return admins

    async def api_getChatMemberCount(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"), send=False)
        if chat.type == "private":
            return 2
        present = [s for s in chat.members.values() if s not in ("left", "kicked")]
        return len(present) + 1

    async def api_pinChatMessage(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        msg = self._find(bot, chat.id, _int(p, "message_id", required=True))
        if msg is None or msg.deleted:
            raise bad_request("message to pin not found")
        self.pinned.setdefault(chat.id, []).append(msg.message_id)
        return True

    async def api_unpinChatMessage(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        pins = self.pinned.get(chat.id, [])
        message_id = _int(p, "message_id")
        if message_id is None:
            if pins:
                pins.pop()
        elif message_id in pins:
            pins.remove(message_id)
        return True

    async def api_createForumTopic(
        self: FakeTelegramServer, bot: BotState, p: Params, call: Call
    ) -> Any:
        chat = self._resolve_chat(bot, p.get("chat_id"))
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        name = p.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise bad_request("invalid forum topic name specified")
        thread_id = self._next_message_id(self._chat_key(bot.id, chat.id))
        chat.topics[thread_id] = name
        return {"message_thread_id": thread_id, "name": name, "icon_color": 7322096}


def member_json(user: dict[str, Any], status: str) -> dict[str, Any]:
    """A ChatMember object of the given status, with every field aiogram requires."""
    data: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(admin_rights())
    elif status == "restricted":
        data.update(
            is_member=True,
            can_send_messages=True,
            can_send_audios=True,
            can_send_documents=True,
            can_send_photos=True,
            can_send_videos=True,
            can_send_video_notes=True,
            can_send_voice_notes=True,
            can_send_polls=True,
            can_send_other_messages=True,
            can_add_web_page_previews=True,
            can_react_to_messages=True,
            can_edit_tag=False,
            can_change_info=False,
            can_invite_users=False,
            can_pin_messages=False,
            can_manage_topics=False,
            until_date=0,
        )
    elif status == "kicked":
        data["until_date"] = 0
    return data
