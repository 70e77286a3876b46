"""Services' texts → Telegram HTML; services' keyboards → aiogram markups.

Services speak plain text and `Button` rows; everything that reaches Telegram is
escaped here (names and answers with `<b>`, `&` or `{{ }}` stay text) and kept
inside Telegram's limits: 4,096 characters a message, 64 bytes of callback
data, 8 buttons a row, 100 buttons a keyboard. Anything over a limit is cut here,
with a log line, rather than refused by Telegram and lost.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.services.types import Button

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
MAX_ROW = 8
MAX_BUTTONS = 100
ELLIPSIS = "…"


def utf16_len(text: str) -> int:
    # Telegram measures text in UTF-16 code units: an emoji outside the BMP counts twice.
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Cut plain text to `limit` (UTF-16 units), ending with an ellipsis when cut."""
    if utf16_len(text) <= limit:
        return text
    cut = text[: limit - 1]
    while utf16_len(cut) > limit - 1:
        cut = cut[:-1]
    return cut + ELLIPSIS


def html_text(plain: str, limit: int = MAX_TEXT) -> str:
    """Plain text made safe for parse_mode=HTML; the visible length stays within `limit`."""
    return html.escape(clip(plain, limit), quote=False)


def _inline_button(button: Button) -> InlineKeyboardButton | None:
    label = clip(button.label or "·", 64)
    if button.url:
        return InlineKeyboardButton(text=label, url=button.url)
    token = button.token
    if not token or len(token.encode()) > MAX_CALLBACK_BYTES:
        log.error("Button %r dropped: callback data empty or over 64 bytes", button.label)
        return None
    return InlineKeyboardButton(text=label, callback_data=token)


def inline_keyboard(rows: Iterable[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Rows of services' Buttons as an inline keyboard; None when there are none."""
    out: list[list[InlineKeyboardButton]] = []
    count = 0
    for row in rows:
        buttons = [b for b in (_inline_button(x) for x in row) if b is not None]
        for start in range(0, len(buttons), MAX_ROW):
            chunk = buttons[start : start + MAX_ROW]
            room = MAX_BUTTONS - count
            if room <= 0:
                log.error("Keyboard cut at %d buttons", MAX_BUTTONS)
                return InlineKeyboardMarkup(inline_keyboard=out) if out else None
            chunk = chunk[:room]
            count += len(chunk)
            out.append(chunk)
    return InlineKeyboardMarkup(inline_keyboard=out) if out else None


def buttons_from_json(rows: Any) -> tuple[tuple[Button, ...], ...]:
    """An outbox payload's `buttons` (rows of {"label", "token"} / {"label", "url"})."""
    if not isinstance(rows, list):
        return ()
    result: list[tuple[Button, ...]] = []
    for row in rows:
        if not isinstance(row, list):
            continue
        buttons = [
            Button(
                label=str(item.get("label", "")),
                token=str(item.get("token") or ""),
                url=item.get("url") or None,
            )
            for item in row
            if isinstance(item, Mapping)
        ]
        if buttons:
            result.append(tuple(buttons))
    return tuple(result)


def contact_keyboard(share_label: str, extra: Iterable[str] = ()) -> ReplyKeyboardMarkup:
    """A reply keyboard with a share-my-phone button. A message carries one markup only,
    so inline buttons of a phone question (skip, back) become text buttons here: a
    press sends the label as text, which the services' parsers understand."""
    rows = [[KeyboardButton(text=share_label, request_contact=True)]]
    labels = [clip(label, 64) for label in extra if label]
    for start in range(0, len(labels), MAX_ROW):
        rows.append([KeyboardButton(text=label) for label in labels[start : start + MAX_ROW]])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)
