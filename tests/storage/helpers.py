"""Small builders shared by the storage tests."""

from __future__ import annotations

from datetime import datetime

from storage import repositories as repo
from storage.database import Database
from storage.tables import Interview, Lead


async def make_lead(db: Database, telegram_id: int, now: datetime) -> Lead:
    async with db.transaction() as s:
        lead, _ = await repo.get_or_create_lead(s, telegram_id, now=now, first_name="Ann")
        return lead


async def make_interview(
    db: Database, now: datetime, telegram_id: int = 1001, flow_id: str = "bant"
) -> Interview:
    lead = await make_lead(db, telegram_id, now)
    assert lead.id is not None
    async with db.transaction() as s:
        return await repo.start_interview(
            s, lead.id, flow_id=flow_id, digest="d1", lang="en", state="q1", now=now
        )
