"""Build valid Telegram update JSON (plain dicts, no aiogram) for tests.

The factory leaves ``update_id`` out (the server assigns it) and, unless given,
``message_id`` too: the server numbers messages per chat, so user and bot messages
of one chat never share an id.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from .validation import utf16_len


@dataclass(frozen=True)
class TgUser:
    id: int
    first_name: str = "Alice"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False
    is_premium: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        if self.is_premium:
            data["is_premium"] = True
        return data

    @property
    def chat(self) -> TgChat:
        return TgChat(
            id=self.id,
            type="private",
            first_name=self.first_name,
            last_name=self.last_name,
            username=self.username,
        )


@dataclass(frozen=True)
class TgChat:
    id: int
    type: str = "private"  # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False

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


def _chat_dict(chat: TgChat | dict[str, Any]) -> dict[str, Any]:
    return chat.to_dict() if isinstance(chat, TgChat) else dict(chat)


def _user_dict(user: TgUser | dict[str, Any]) -> dict[str, Any]:
    return user.to_dict() if isinstance(user, TgUser) else dict(user)


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram adds to a text starting with /command."""
    if not text.startswith("/"):
        return []
    end = 1
    while end < len(text) and not text[end].isspace():
        end += 1
    if end == 1:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(text[:end])}]


class UpdateFactory:
    """Makes update dicts. ``bot`` is the bot's own user dict (for my_chat_member)."""

    def __init__(
        self,
        bot: dict[str, Any] | None = None,
        *,
        first_user_id: int = 10_001,
        first_group_id: int = -1_001_000_000_001,
        clock: Any = time.time,
    ) -> None:
        self.bot = bot or {
            "id": 123456,
            "is_bot": True,
            "first_name": "Test Bot",
            "username": "test_bot",
        }
        self._user_ids = itertools.count(first_user_id)
        self._group_ids = itertools.count(first_group_id, -1)
        self._query_ids = itertools.count(1)
        self.clock = clock

    def _now(self) -> int:
        return int(self.clock())

    # ---- people and chats -------------------------------------------------------

    def user(
        self,
        id: int | None = None,
        first_name: str = "Alice",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool | None = None,
    ) -> TgUser:
        return TgUser(
            id=id if id is not None else next(self._user_ids),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )

    def group(
        self,
        id: int | None = None,
        title: str = "Sales",
        *,
        supergroup: bool = True,
        forum: bool = False,
        username: str | None = None,
    ) -> TgChat:
        return TgChat(
            id=id if id is not None else next(self._group_ids),
            type="supergroup" if supergroup else "group",
            title=title,
            username=username,
            is_forum=forum,
        )

    # ---- messages ---------------------------------------------------------------

    def message_dict(
        self,
        user: TgUser | dict[str, Any],
        *,
        chat: TgChat | dict[str, Any] | None = None,
        message_id: int | None = None,
        thread_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        date: int | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        """A Message object; ``content`` is text=..., document=..., contact=..., etc."""
        if chat is None:
            chat = user.chat if isinstance(user, TgUser) else {"id": user["id"], "type": "private"}
        chat_data = _chat_dict(chat)
        message: dict[str, Any] = {}
        if message_id is not None:
            message["message_id"] = message_id
        message["from"] = _user_dict(user)
        message["chat"] = chat_data
        message["date"] = date if date is not None else self._now()
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat_data.get("is_forum"):
                message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        for key, value in content.items():
            if value is not None:
                message[key] = value
        return message

    def text(
        self,
        user: TgUser | dict[str, Any],
        text: str,
        *,
        entities: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A text message; "/cmd ..." gets its bot_command entity."""
        found = entities if entities is not None else command_entities(text)
        msg = self.message_dict(user, text=text, entities=found or None, **kwargs)
        return {"message": msg}

    message = text

    def command(
        self,
        user: TgUser | dict[str, Any],
        command: str,
        payload: str | None = None,
        *,
        mention: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """/command [payload]; ``command("start", "abc")`` is a deep link start."""
        name = command.lstrip("/")
        head = f"/{name}@{self.bot.get('username')}" if mention else f"/{name}"
        text = f"{head} {payload}" if payload else head
        return self.text(user, text, **kwargs)

    def callback(
        self,
        user: TgUser | dict[str, Any],
        message: dict[str, Any] | None,
        data: str,
        *,
        query_id: str | None = None,
        chat_instance: str | None = None,
    ) -> dict[str, Any]:
        """A callback query on ``message`` (the bot message JSON the button is on)."""
        user_data = _user_dict(user)
        query: dict[str, Any] = {
            "id": query_id or f"{user_data['id']}{next(self._query_ids):08d}",
            "from": user_data,
            "chat_instance": chat_instance or str(user_data["id"] * 7919 + 17),
            "data": data,
        }
        if message is not None:
            query["message"] = message
        return {"callback_query": query}

    def contact(
        self,
        user: TgUser | dict[str, Any],
        phone_number: str,
        *,
        own: bool = True,
        first_name: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        user_data = _user_dict(user)
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name or user_data.get("first_name", "Contact"),
        }
        if own:
            contact["user_id"] = user_data["id"]
            if user_data.get("last_name"):
                contact["last_name"] = user_data["last_name"]
        return {"message": self.message_dict(user, contact=contact, **kwargs)}

    def document(
        self,
        user: TgUser | dict[str, Any],
        file_id: str,
        *,
        file_unique_id: str | None = None,
        file_name: str | None = "file.pdf",
        mime_type: str | None = "application/pdf",
        file_size: int | None = None,
        caption: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": file_unique_id or f"u{file_id}",
        }
        if file_name:
            document["file_name"] = file_name
        if mime_type:
            document["mime_type"] = mime_type
        if file_size is not None:
            document["file_size"] = file_size
        return {"message": self.message_dict(user, document=document, caption=caption, **kwargs)}

    def photo(
        self,
        user: TgUser | dict[str, Any],
        file_id: str,
        *,
        file_unique_id: str | None = None,
        width: int = 800,
        height: int = 600,
        file_size: int | None = None,
        caption: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        unique = file_unique_id or f"u{file_id}"
        sizes = [
            {
                "file_id": f"{file_id}-thumb",
                "file_unique_id": f"{unique}-t",
                "width": max(1, width // 10),
                "height": max(1, height // 10),
            },
            {"file_id": file_id, "file_unique_id": unique, "width": width, "height": height},
        ]
        if file_size is not None:
            sizes[-1]["file_size"] = file_size
        return {"message": self.message_dict(user, photo=sizes, caption=caption, **kwargs)}

    def sticker(
        self, user: TgUser | dict[str, Any], emoji: str = "👍", **kwargs: Any
    ) -> dict[str, Any]:
        sticker = {
            "file_id": f"sticker-{ord(emoji[0]):x}",
            "file_unique_id": f"us-{ord(emoji[0]):x}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return {"message": self.message_dict(user, sticker=sticker, **kwargs)}

    def voice(
        self,
        user: TgUser | dict[str, Any],
        duration: int = 3,
        *,
        file_id: str = "voice-1",
        **kwargs: Any,
    ) -> dict[str, Any]:
        voice = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "duration": duration,
            "mime_type": "audio/ogg",
        }
        return {"message": self.message_dict(user, voice=voice, **kwargs)}

    def location(
        self,
        user: TgUser | dict[str, Any],
        latitude: float = 55.7558,
        longitude: float = 37.6173,
        **kwargs: Any,
    ) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        return {"message": self.message_dict(user, location=location, **kwargs)}

    def poll(
        self,
        user: TgUser | dict[str, Any],
        question: str = "Which plan?",
        options: tuple[str, ...] = ("Basic", "Pro"),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A poll the user sends into the chat (regular, anonymous, open)."""
        poll = {
            "id": f"poll-{abs(hash((question, options))) % 10**9}",
            "question": question,
            "options": [
                {"persistent_id": str(i), "text": o, "voter_count": 0}
                for i, o in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
        return {"message": self.message_dict(user, poll=poll, **kwargs)}

    def edited(
        self,
        user: TgUser | dict[str, Any],
        message_id: int,
        text: str,
        *,
        date: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """An edited_message: the user changed message ``message_id`` to ``text``."""
        now = self._now()
        msg = self.message_dict(
            user,
            message_id=message_id,
            text=text,
            entities=command_entities(text) or None,
            date=date if date is not None else now - 1,
            **kwargs,
        )
        msg["edit_date"] = now
        return {"edited_message": msg}

    def forwarded(
        self,
        user: TgUser | dict[str, Any],
        text: str,
        *,
        origin_user: TgUser | dict[str, Any] | None = None,
        origin_chat: TgChat | dict[str, Any] | None = None,
        hidden_name: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A message the user forwarded from someone (or a channel, or a hidden user)."""
        date = self._now() - 60
        if origin_chat is not None:
            origin: dict[str, Any] = {
                "type": "channel",
                "chat": _chat_dict(origin_chat),
                "message_id": 1,
                "date": date,
            }
        elif hidden_name is not None:
            origin = {"type": "hidden_user", "sender_user_name": hidden_name, "date": date}
        else:
            sender = origin_user if origin_user is not None else self.user(first_name="Bob")
            origin = {"type": "user", "sender_user": _user_dict(sender), "date": date}
        msg = self.message_dict(user, text=text, forward_origin=origin, **kwargs)
        return {"message": msg}

    def group_text(
        self,
        user: TgUser | dict[str, Any],
        group: TgChat | dict[str, Any],
        text: str,
        *,
        reply_to: dict[str, Any] | None = None,
        thread_id: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A message in a group; ``reply_to`` is the replied message's JSON (a bot
        message: ``server.last_message(group_id).to_dict()``)."""
        entities = command_entities(text) or None
        msg = self.message_dict(
            user,
            chat=group,
            text=text,
            entities=entities,
            reply_to=reply_to,
            thread_id=thread_id,
            **kwargs,
        )
        return {"message": msg}

    def chat_member(
        self,
        user: TgUser | dict[str, Any],
        old: str,
        new: str,
        *,
        chat: TgChat | dict[str, Any] | None = None,
        member: dict[str, Any] | None = None,
        key: str = "my_chat_member",
    ) -> dict[str, Any]:
        """my_chat_member (the bot's own status changed) or chat_member updates."""
        user_data = _user_dict(user)
        if chat is None:
            chat = (
                user.chat
                if isinstance(user, TgUser)
                else {"id": user_data["id"], "type": "private"}
            )
        subject = member or self.bot
        now = self._now()

        def status(value: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": value, "user": subject}
            if value == "kicked":
                data["until_date"] = 0
            if value == "administrator":
                data.update(admin_rights())
            if value == "creator":
                data["is_anonymous"] = False
            return data

        return {
            key: {
                "chat": _chat_dict(chat),
                "from": user_data,
                "date": now,
                "old_chat_member": status(old),
                "new_chat_member": status(new),
            }
        }

    def blocked(self, user: TgUser | dict[str, Any]) -> dict[str, Any]:
        """The user blocked the bot (my_chat_member: member → kicked)."""
        return self.chat_member(user, "member", "kicked")

    def unblocked(self, user: TgUser | dict[str, Any]) -> dict[str, Any]:
        """The user unblocked the bot (my_chat_member: kicked → member)."""
        return self.chat_member(user, "kicked", "member")

    def bot_added(
        self, by: TgUser | dict[str, Any], group: TgChat | dict[str, Any], status: str = "member"
    ) -> dict[str, Any]:
        return self.chat_member(by, "left", status, chat=group)


def admin_rights(**overrides: bool) -> dict[str, Any]:
    rights: dict[str, Any] = {
        "can_be_edited": False,
        "is_anonymous": False,
        "can_manage_chat": True,
        "can_delete_messages": True,
        "can_manage_video_chats": True,
        "can_restrict_members": True,
        "can_promote_members": False,
        "can_change_info": True,
        "can_invite_users": True,
        "can_post_stories": False,
        "can_edit_stories": False,
        "can_delete_stories": False,
        "can_send_welcome_messages": False,
        "can_pin_messages": True,
        "can_manage_topics": True,
    }
    rights.update(overrides)
    return rights
