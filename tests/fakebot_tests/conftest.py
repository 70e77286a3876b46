"""The fake Bot API fixtures (tests/conftest.py will import them for everyone)."""

from tests.fakebot.fixtures import fake_api, fake_bot

__all__ = ["fake_api", "fake_bot"]
