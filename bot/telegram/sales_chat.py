"""Where sales cards go: the sales chat id (which can change) and the forum topic.

A group that becomes a supergroup gets a new id, and Telegram answers the old
one with `migrate_to_chat_id`. Every sender asks this one object for the chat
in use, so a migration noticed by any call (a card, an edit, a member check)
moves them all at once.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any

log = logging.getLogger(__name__)


class ShownCards:
    """What each card shows now (a digest of its HTML and buttons), so an edit that
    would change nothing is not sent: Telegram refuses it ("message is not
    modified") and it would still cost the group's 20 a minute. Memory only; after
    a restart the first such edit goes out once and is refused harmlessly."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._shown: OrderedDict[int, str] = OrderedDict()

    @staticmethod
    def _digest(html: str, buttons: Any) -> str:
        return hashlib.sha256(repr((html, buttons)).encode()).hexdigest()

    def same(self, handoff_id: int, html: str, buttons: Any) -> bool:
        return self._shown.get(handoff_id) == self._digest(html, buttons)

    def forget(self, handoff_id: int) -> None:
        self._shown.pop(handoff_id, None)

    def remember(self, handoff_id: int, html: str, buttons: Any) -> None:
        self._shown[handoff_id] = self._digest(html, buttons)
        self._shown.move_to_end(handoff_id)
        if len(self._shown) > self.size:
            self._shown.popitem(last=False)


class SalesChat:
    def __init__(self, chat_id: int, topic_id: int | None = None) -> None:
        self.chat_id = chat_id
        self.topic_id = topic_id
        self.configured_id = chat_id
        self._former: set[int] = set()
        self.shown = ShownCards()

    def is_sales(self, chat_id: int | str | None) -> bool:
        return chat_id is not None and (chat_id == self.chat_id or chat_id in self._former)

    def resolve(self, chat_id: int) -> int:
        """The chat to use for a row or button that named `chat_id` (maybe an old id)."""
        return self.chat_id if chat_id in self._former else chat_id

    def migrate(self, old_id: int, new_id: int) -> bool:
        """Follow a migration; False if `old_id` is not (or no longer) the sales chat."""
        if old_id == new_id or not self.is_sales(old_id):
            return False
        if self.chat_id != new_id:
            log.warning(
                "Sales chat %s was migrated to supergroup %s: sending there from now on "
                "(set SALES_CHAT_ID=%s to make it permanent)",
                old_id,
                new_id,
                new_id,
            )
            self._former.add(self.chat_id)
            self.chat_id = new_id
        self._former.add(old_id)
        # A forum topic id belongs to the old chat; a migrated basic group had no topics.
        return True

    def thread_for(self, chat_id: int) -> int | None:
        return self.topic_id if chat_id == self.chat_id else None

    def __repr__(self) -> str:
        return f"SalesChat({self.chat_id}, topic={self.topic_id})"
