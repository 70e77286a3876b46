"""Test-side actors: a private-chat user and a group, driving the fake server.

alice = server.user("Alice", language_code="ru")
alice.start("from_ads")                 # /start from_ads (a deep link)
question = await alice.next_message()   # what the bot said back
alice.click("Yes")                      # press a button on the bot's last keyboard
await alice.next_message(lambda m: "budget" in m.text)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .factory import TgUser

if TYPE_CHECKING:
    from .server import FakeTelegramServer
    from .state import ChatRecord, StoredMessage


class FakeUser:
    """A Telegram user writing to the bot in a private chat."""

    def __init__(self, server: FakeTelegramServer, tg: TgUser, *, token: str | None = None):
        self.server = server
        self.tg = tg
        self.token = token

    @property
    def id(self) -> int:
        return self.tg.id

    chat_id = id

    def to_dict(self) -> dict[str, Any]:
        return self.tg.to_dict()

    def _push(self, update: dict[str, Any], **kwargs: Any) -> int:
        return self.server.push_update(update, token=self.token, **kwargs)

    @property
    def factory(self) -> Any:
        return self.server.factory

    # ---- what the user does -----------------------------------------------------

    def send(self, text: str, **kwargs: Any) -> int:
        """A text message ("/cmd ..." gets a bot_command entity); returns the update_id."""
        return self._push(self.factory.text(self.tg, text, **kwargs))

    def command(self, name: str, payload: str | None = None, **kwargs: Any) -> int:
        return self._push(self.factory.command(self.tg, name, payload, **kwargs))

    def start(self, payload: str | None = None) -> int:
        """/start, or /start PAYLOAD as a t.me/bot?start=PAYLOAD deep link sends it."""
        return self.command("start", payload)

    def click(
        self,
        text: str | None = None,
        *,
        data: str | None = None,
        message: StoredMessage | int | None = None,
        force: bool = False,
    ) -> int:
        """Press an inline button (default: on the bot's last message with buttons)."""
        return self.server.click(self.tg, message, text, data=data, token=self.token, force=force)

    def share_contact(self, phone: str = "+15551234567", *, own: bool = True) -> int:
        return self._push(self.factory.contact(self.tg, phone, own=own))

    def send_document(
        self,
        content: bytes = b"%PDF-1.4\n% fake\n",
        file_name: str = "file.pdf",
        *,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> int:
        """Upload a document: the bot can getFile and download ``content``."""
        record = self.server.add_file(content, file_name, mime_type=mime_type)
        return self._push(
            self.factory.document(
                self.tg,
                record.file_id,
                file_unique_id=record.file_unique_id,
                file_name=file_name,
                mime_type=record.mime_type,
                file_size=record.size,
                caption=caption,
            )
        )

    def send_photo(
        self, content: bytes = b"\xff\xd8\xff fake jpeg", *, caption: str | None = None
    ) -> int:
        record = self.server.add_file(content, None, kind="photo")
        return self._push(
            self.factory.photo(
                self.tg,
                record.file_id,
                file_unique_id=record.file_unique_id,
                file_size=record.size,
                caption=caption,
            )
        )

    def send_sticker(self, emoji: str = "👍") -> int:
        return self._push(self.factory.sticker(self.tg, emoji))

    def send_voice(self, duration: int = 3) -> int:
        record = self.server.add_file(b"OggS fake voice", None, kind="voice")
        return self._push(self.factory.voice(self.tg, duration, file_id=record.file_id))

    def send_location(self, latitude: float = 55.7558, longitude: float = 37.6173) -> int:
        return self._push(self.factory.location(self.tg, latitude, longitude))

    def send_poll(
        self, question: str = "Which plan?", options: tuple[str, ...] = ("A", "B")
    ) -> int:
        return self._push(self.factory.poll(self.tg, question, options))

    def reply(self, message: StoredMessage | int, text: str) -> int:
        """A text message replying to an earlier message of this chat (e.g. an old question)."""
        if isinstance(message, int):
            target = self.server.get_message(self.id, message, token=self.token)
        else:
            target = message
        assert target is not None, f"no message {message} in chat {self.id}"
        reply_to = self.server.message_json(target, nested=False)
        return self._push(self.factory.text(self.tg, text, reply_to=reply_to))

    def forward(self, text: str, **kwargs: Any) -> int:
        """Forward a message from someone else (``origin_user=``, ``origin_chat=``)."""
        return self._push(self.factory.forwarded(self.tg, text, **kwargs))

    def edit(self, message_id: int, text: str) -> int:
        """The user edits their earlier message."""
        return self._push(self.factory.edited(self.tg, message_id, text))

    def block(self) -> int:
        """Block the bot: pushes my_chat_member (member → kicked); sends then get 403."""
        return self._push(self.factory.blocked(self.tg))

    def unblock(self) -> int:
        return self._push(self.factory.unblocked(self.tg))

    # ---- what the bot said ------------------------------------------------------

    async def next_message(
        self, predicate: Callable[[StoredMessage], Any] | None = None, timeout: float = 5.0
    ) -> StoredMessage:
        return await self.server.wait_for_message(self.id, predicate, timeout, token=self.token)

    async def next_messages(self, count: int, timeout: float = 5.0) -> list[StoredMessage]:
        return await self.server.wait_for_messages(self.id, count, timeout, token=self.token)

    async def ask(self, text: str, timeout: float = 5.0) -> StoredMessage:
        """Send ``text`` and return the bot's next message."""
        self.send(text)
        return await self.next_message(timeout=timeout)

    @property
    def messages(self) -> list[StoredMessage]:
        return self.server.messages(self.id, token=self.token)

    @property
    def last_message(self) -> StoredMessage | None:
        return self.server.last_message(self.id, token=self.token)

    @property
    def reply_keyboard(self) -> dict[str, Any] | None:
        return self.server.reply_keyboard(self.id, token=self.token)

    def __repr__(self) -> str:
        return f"<FakeUser {self.id} {self.tg.first_name!r}>"


class FakeGroup:
    """A group or supergroup (maybe a forum) the bot is in."""

    def __init__(self, server: FakeTelegramServer, chat: ChatRecord, *, token: str | None = None):
        self.server = server
        self.chat = chat
        self.token = token

    @property
    def id(self) -> int:
        return self.chat.migrated_to or self.chat.id

    def to_dict(self) -> dict[str, Any]:
        return self.server.chats[self.id].to_dict()

    def send(
        self,
        user: FakeUser | TgUser,
        text: str,
        *,
        reply_to: StoredMessage | int | None = None,
        thread_id: int | None = None,
    ) -> int:
        """``user`` writes in the group, maybe replying to a message (a bot card)."""
        tg = user.tg if isinstance(user, FakeUser) else user
        self.server.chats[self.id].members.setdefault(tg.id, "member")
        reply = None
        if reply_to is not None:
            target = (
                self.server.get_message(self.id, reply_to, token=self.token)
                if isinstance(reply_to, int)
                else reply_to
            )
            if target is None:
                raise LookupError(f"no message {reply_to} in group {self.id}")
            reply = self.server.message_json(target, nested=False)
            if thread_id is None:
                thread_id = target.thread_id
        update = self.server.factory.group_text(
            tg, self.to_dict(), text, reply_to=reply, thread_id=thread_id
        )
        return self.server.push_update(update, token=self.token)

    def click(
        self,
        user: FakeUser | TgUser,
        text: str | None = None,
        *,
        data: str | None = None,
        message: StoredMessage | int | None = None,
        force: bool = False,
    ) -> int:
        """``user`` presses a button on a bot message in the group (default: the last)."""
        return self.server.click(
            user, message, text, data=data, chat_id=self.id, token=self.token, force=force
        )

    def set_member(self, user: FakeUser | TgUser | int, status: str) -> None:
        user_id = user if isinstance(user, int) else user.id
        if not isinstance(user, int):
            self.server._remember_user(user.to_dict())
        self.server.set_member(self.id, user_id, status)

    def migrate(self, new_chat_id: int | None = None) -> int:
        """Upgrade to a supergroup; returns the new chat id."""
        return self.server.migrate_group(self.chat.id, new_chat_id)

    async def next_message(
        self, predicate: Callable[[StoredMessage], Any] | None = None, timeout: float = 5.0
    ) -> StoredMessage:
        return await self.server.wait_for_message(self.id, predicate, timeout, token=self.token)

    def messages(self, thread_id: int | None = None) -> list[StoredMessage]:
        return self.server.messages(self.id, token=self.token, thread_id=thread_id)

    @property
    def last_message(self) -> StoredMessage | None:
        return self.server.last_message(self.id, token=self.token)

    def __repr__(self) -> str:
        return f"<FakeGroup {self.id} {self.chat.title!r}>"
