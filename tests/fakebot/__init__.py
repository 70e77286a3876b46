"""A fake Telegram Bot API server for end-to-end tests and benchmarks.

    from tests.fakebot import FakeTelegramServer

    async with FakeTelegramServer() as server:
        bot = server.create_bot()          # aiogram Bot on server.url
        alice = server.user("Alice")
        alice.start()
        reply = await alice.next_message()

See tests/fakebot/README.md. Importing this package does not import aiogram.
"""

from .errors import ApiError
from .factory import TgChat, TgUser, UpdateFactory, admin_rights, command_entities
from .faults import Fault, ManualClock, RateLimits
from .server import DEFAULT_TOKEN, IMPLEMENTED_METHODS, FakeTelegramServer, WaitTimeout
from .state import (
    Call,
    CallbackRecord,
    ChatRecord,
    FileRecord,
    Problem,
    StoredMessage,
    UploadedFile,
)
from .users import FakeGroup, FakeUser
from .validation import format_text, parse_html, parse_markdown_v2

FakeBotAPI = FakeTelegramServer

__all__ = [
    "DEFAULT_TOKEN",
    "IMPLEMENTED_METHODS",
    "ApiError",
    "Call",
    "CallbackRecord",
    "ChatRecord",
    "FakeBotAPI",
    "FakeGroup",
    "FakeTelegramServer",
    "FakeUser",
    "Fault",
    "FileRecord",
    "ManualClock",
    "Problem",
    "RateLimits",
    "StoredMessage",
    "TgChat",
    "TgUser",
    "UpdateFactory",
    "UploadedFile",
    "WaitTimeout",
    "admin_rights",
    "command_entities",
    "format_text",
    "parse_html",
    "parse_markdown_v2",
]
