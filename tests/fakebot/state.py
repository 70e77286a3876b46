"""What the fake server remembers: calls, messages, chats, files, bots."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UploadedFile:
    """A file part of a multipart request (sendDocument, sendPhoto...)."""

    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def to_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size}


@dataclass
class Call:
    """One request the bot made (or a method answered in a webhook response)."""

    seq: int
    method: str
    params: dict[str, Any]
    token: str
    time: float
    status: int | None = None
    result: Any = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    fault: str | None = None
    finished: bool = False
    dropped: bool = False
    via: str = "http"
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        value = self.params.get("text", self.params.get("caption"))
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "params": self.params,
            "bot_id": int(self.token.split(":", 1)[0]) if ":" in self.token else None,
            "time": self.time,
            "status": self.status,
            "ok": self.ok,
            "result": self.result,
            "description": self.description,
            "parameters": self.parameters,
            "fault": self.fault,
            "finished": self.finished,
            "dropped": self.dropped,
            "via": self.via,
            "duration": self.duration,
        }


@dataclass
class Problem:
    """Something the bot did that real Telegram would refuse (or a fake server bug)."""

    method: str
    description: str
    params: dict[str, Any]
    call_seq: int | None = None

    def __str__(self) -> str:
        return f"{self.method}: {self.description} (params: {_short(self.params)})"


def _short(params: dict[str, Any]) -> str:
    text = repr({k: v for k, v in params.items() if not isinstance(v, UploadedFile)})
    return text if len(text) < 300 else text[:297] + "..."


@dataclass
class StoredMessage:
    """A message in a chat, as it is now (``history`` keeps the earlier versions).

    ``text`` is the plain text after entity parsing (HTML stripped; the caption for
    media), ``raw`` is what was sent (HTML included), ``entities`` the parsed entities.
    """

    chat_id: int
    message_id: int
    seq: int
    from_bot: bool
    bot_id: int
    sender: dict[str, Any]
    chat: dict[str, Any]
    date: int
    kind: str = "text"
    text: str | None = None
    raw: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    thread_id: int | None = None
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    media: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    copied_from: tuple[int, int] | None = None

    @property
    def html(self) -> str | None:
        return self.raw if (self.parse_mode or "").lower() == "html" else None

    @property
    def caption(self) -> str | None:
        return self.text if self.kind != "text" else None

    @property
    def edited(self) -> bool:
        return bool(self.history)

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [
            [b if isinstance(b, dict) else {"text": b} for b in row]
            for row in rows
            if isinstance(row, list)
        ]

    @property
    def button_texts(self) -> list[str]:
        return [b.get("text", "") for row in self.buttons for b in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]

    @property
    def has_inline_keyboard(self) -> bool:
        return bool((self.reply_markup or {}).get("inline_keyboard"))

    def button(self, text: str | None = None, *, data: str | None = None) -> dict[str, Any]:
        """The button with this text (exact, else the only one containing it) or data."""
        flat = [b for row in self.buttons for b in row]
        if data is not None:
            found = [b for b in flat if b.get("callback_data") == data]
        else:
            found = [b for b in flat if b.get("text") == text]
            if not found and text:
                found = [b for b in flat if text.casefold() in b.get("text", "").casefold()]
        if len(found) != 1:
            what = f"data={data!r}" if data is not None else f"text={text!r}"
            raise LookupError(
                f"{len(found) or 'no'} button(s) with {what} on message {self.message_id} "
                f"in chat {self.chat_id}; buttons: {self.button_texts}"
            )
        return found[0]

    def snapshot(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "raw": self.raw,
            "parse_mode": self.parse_mode,
            "entities": self.entities,
            "reply_markup": self.reply_markup,
            "edit_date": self.edit_date,
        }

    def to_json(self) -> dict[str, Any]:
        """A summary for the control API (not Telegram's Message shape)."""
        return {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "seq": self.seq,
            "from_bot": self.from_bot,
            "bot_id": self.bot_id,
            "kind": self.kind,
            "text": self.text,
            "raw": self.raw,
            "parse_mode": self.parse_mode,
            "entities": self.entities,
            "reply_markup": self.reply_markup,
            "thread_id": self.thread_id,
            "reply_to_message_id": self.reply_to_message_id,
            "date": self.date,
            "edit_date": self.edit_date,
            "deleted": self.deleted,
            "history": self.history,
            "media": self.media,
        }

    def __repr__(self) -> str:
        text = (self.text or "")[:60]
        flags = " deleted" if self.deleted else ""
        flags += " edited" if self.history else ""
        return (
            f"<StoredMessage chat={self.chat_id} id={self.message_id} "
            f"{'bot' if self.from_bot else 'user'} {self.kind} {text!r}{flags} "
            f"buttons={self.button_texts}>"
        )


@dataclass
class FileRecord:
    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    kind: str = "document"
    file_path: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.file_name:
            doc["file_name"] = self.file_name
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        return doc


@dataclass
class ChatRecord:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False
    members: dict[int, str] = field(default_factory=dict)
    bot_status: dict[int, str] = field(default_factory=dict)
    default_bot_status: str = "administrator"
    migrated_to: int | None = None
    migrated_from: int | None = None
    topics: dict[int, str] = field(default_factory=dict)

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value:
                data[key] = value
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class UpdateEntry:
    update_id: int
    type: str
    payload: bytes
    data: dict[str, Any]
    deliveries: int = 0
    queued_at: float = 0.0  # server.clock() when pushed (latency measurements)


@dataclass
class CallbackRecord:
    id: str
    bot_id: int
    user_id: int
    chat_id: int | None
    message_id: int | None
    data: str | None
    created: float
    answered: bool = False
    answer: dict[str, Any] | None = None


@dataclass
class WebhookDelivery:
    update_id: int
    status: int | None
    error: str | None
    time: float


@dataclass
class Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    task: asyncio.Task[Any] | None = None
    deliveries: list[WebhookDelivery] = field(default_factory=list)


DEFAULT_ALLOWED = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


class BotState:
    """Everything one bot token owns."""

    def __init__(self, token: str, *, username: str | None = None, first_name: str | None = None):
        self.token = token
        self.id = int(token.split(":", 1)[0])
        self.username = username or f"test{self.id}_bot"
        self.first_name = first_name or "Test Bot"
        self.queue: deque[UpdateEntry] = deque()
        self.next_update_id = 1
        self.history: dict[int, UpdateEntry] = {}
        self.wakeup = asyncio.Event()
        self.poller: asyncio.Future[Any] | None = None
        self.polled = False
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED
        self.filtered: list[int] = []
        self.webhook: Webhook | None = None
        self.webhook_history: list[WebhookDelivery] = []
        self.webhook_blocked = 0
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.texts: dict[tuple[str, str], str] = {}
        self.known_chats: set[int] = set()
        self.blocked: set[int] = set()
        self.revoked = False
        self.can_join_groups = True
        self.can_read_all_group_messages = False

    def user_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def me(self) -> dict[str, Any]:
        return {
            **self.user_dict(),
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @property
    def pending(self) -> int:
        return len(self.queue)
