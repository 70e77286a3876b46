"""Keep secrets out of logs.

aiogram builds request URLs as `<server>/bot<TOKEN>/<method>`, and an aiohttp
error can carry the URL into an exception message that aiogram logs
("Failed to fetch updates - TelegramNetworkError: ..."). Rather than trusting
every library not to print it, a filter on the root handlers replaces any
registered secret in the formatted message and the traceback text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "<redacted>"


class SecretFilter(logging.Filter):
    """Replace known secrets in a record's message, arguments and exception text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        # Very short strings would redact innocent text; real tokens are long.
        if not secret or len(secret) < 8 or secret in self._secrets:
            return
        self._secrets.add(secret)
        # Longest first, so a token wins over a secret that is part of it.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def scrub(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback once here so the formatter reuses our clean copy.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.scrub(text)
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
            record.exc_text = None
        return True


_installed: SecretFilter | None = None


def install_secret_filter(*secrets: str | None) -> SecretFilter:
    """Attach one SecretFilter to every root handler (and to handlers added later
    through `logging.basicConfig`, which attaches to the root logger)."""
    global _installed
    if _installed is None:
        _installed = SecretFilter()
    for secret in secrets:
        _installed.add(secret)
    root = logging.getLogger()
    for handler in root.handlers:
        if _installed not in handler.filters:
            handler.addFilter(_installed)
    return _installed


def token_secrets(token: str) -> tuple[str, ...]:
    """The token and its secret half (after the colon): either alone identifies the bot."""
    _, _, half = token.partition(":")
    return (token, half) if half else (token,)
