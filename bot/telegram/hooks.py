"""Thin adapter between Telegram faults and what the services and storage offer.

- A prospect blocked the bot (403): the lead is marked blocked and an
  engagement event "blocked" recorded, through the interview service when it
  offers `mark_blocked(chat_id)`, else straight through the lead repository.
- The sales group migrated to a supergroup: the new id is kept in the
  `setting` table under `sales_chat_migrated:<old id>`, and read back at
  start-up, so a restart keeps following it until SALES_CHAT_ID is updated.
"""

from __future__ import annotations

import logging
from typing import Any

from storage import repositories as repo
from storage.database import Database

log = logging.getLogger(__name__)

MIGRATED_KEY = "sales_chat_migrated:{old}"
MAX_HOPS = 5  # a chain of migrations; a loop in bad data must not hang start-up


class ServiceHooks:
    def __init__(self, db: Database, interview: Any | None = None) -> None:
        self.db = db
        self.interview = interview

    async def prospect_blocked(self, chat_id: int) -> None:
        mark = getattr(self.interview, "mark_blocked", None)
        if mark is not None:
            await mark(chat_id)
            return
        async with self.db.transaction() as session:
            lead = await repo.get_lead_by_telegram_id(session, chat_id)
            if lead is None or lead.id is None:
                return
            await repo.update_lead(session, lead.id, blocked=True)
        log.info("Lead %s marked blocked", lead.id)
        await self._blocked_event(chat_id)

    async def _blocked_event(self, chat_id: int) -> None:
        # Scored only if the flow defines a "blocked" event; anything else is ignored.
        event = getattr(self.interview, "event", None)
        if event is None:
            return
        from bot.services.types import Prospect

        try:
            await event(Prospect(user_id=chat_id, chat_id=chat_id), "blocked")
        except Exception:
            log.debug("No 'blocked' event recorded for chat %s", chat_id, exc_info=True)

    async def prospect_returned(self, chat_id: int) -> None:
        """The prospect wrote again after blocking: sending is allowed again."""
        unmark = getattr(self.interview, "mark_unblocked", None)
        if unmark is not None:
            await unmark(chat_id)
            return
        async with self.db.transaction() as session:
            lead = await repo.get_lead_by_telegram_id(session, chat_id)
            if lead is not None and lead.id is not None and lead.blocked:
                await repo.update_lead(session, lead.id, blocked=False)

    async def sales_chat_migrated(self, old_id: int, new_id: int) -> None:
        async with self.db.transaction() as session:
            await repo.set_setting(session, MIGRATED_KEY.format(old=old_id), str(new_id))


async def resolve_sales_chat(db: Database, configured: int) -> int:
    """SALES_CHAT_ID, or the supergroup it became (as recorded by `sales_chat_migrated`)."""
    chat_id = configured
    async with db.session() as session:
        for _ in range(MAX_HOPS):
            value = await repo.get_setting(session, MIGRATED_KEY.format(old=chat_id))
            if value is None or not value.lstrip("-").isdigit():
                break
            chat_id = int(value)
    if chat_id != configured:
        log.warning(
            "SALES_CHAT_ID %s was migrated to %s earlier: using %s (update SALES_CHAT_ID)",
            configured,
            chat_id,
            chat_id,
        )
    return chat_id
