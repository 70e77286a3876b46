"""Readers for what the services wrote."""

from __future__ import annotations

from storage import outbox
from storage import repositories as repo
from storage.database import Database
from storage.tables import Interview, Outbox


async def queued(db: Database, kind: str | None = None) -> list[Outbox]:
    async with db.session() as s:
        rows = await outbox.list_outbox(s)
    return [r for r in rows if kind is None or r.kind == kind]


async def interviews(db: Database, user_id: int = 1001) -> list[Interview]:
    async with db.session() as s:
        lead = await repo.get_lead_by_telegram_id(s, user_id)
        assert lead is not None
        return await repo.list_interviews(s, lead_id=lead.id)


async def answers(db: Database, interview_id: int, superseded: bool = False) -> list:
    async with db.session() as s:
        return await repo.list_answers(s, interview_id, include_superseded=superseded)


async def lead_count(db: Database) -> int:
    async with db.session() as s:
        return len(await repo.list_leads(s))
