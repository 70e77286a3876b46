"""pytest fixtures for the fake Bot API. Import them into a conftest.py::

    from tests.fakebot.fixtures import fake_api, fake_bot  # noqa: F401

``fake_api`` is a started ``FakeTelegramServer``, stopped at teardown. At teardown the
test fails if the bot called a method the fake does not implement or sent something
real Telegram would refuse (bad HTML, too long text, unknown chat, 65-byte callback
data, an edit that changes nothing...), unless the test said it expects that:
``fake_api.expect_problem("message is not modified")``. ``fake_api.strict = False``
switches the check off for one test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from .server import FakeTelegramServer


async def close_bot(bot: Any) -> None:
    """Close an aiogram Bot's HTTP session without aiogram's 0.25 s grace sleep."""
    session = getattr(bot.session, "_session", None)
    if session is not None and not session.closed:
        await session.close()


@pytest_asyncio.fixture
async def fake_api() -> AsyncIterator[FakeTelegramServer]:
    server = FakeTelegramServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    try:
        server.check()
    except AssertionError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest_asyncio.fixture
async def fake_bot(fake_api: FakeTelegramServer) -> AsyncIterator[Any]:
    """An aiogram ``Bot`` (default token) talking to ``fake_api``."""
    bot = fake_api.create_bot()
    try:
        yield bot
    finally:
        await close_bot(bot)


__all__ = ["close_bot", "fake_api", "fake_bot"]
