"""Telegram update ids already handled: Telegram redelivers after a failed webhook
answer or a restart, and a redelivered "Take" or answer must not act twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or, upsert_insert
from storage.tables import ProcessedUpdate


async def mark_update_processed(
    session: AsyncSession, update_id: int, *, now: datetime | None = None
) -> bool:
    """True the first time an update id is seen, False for a duplicate.

    Race-safe (INSERT ... ON CONFLICT DO NOTHING). Call it inside the same
    transaction as the update's effects: if handling fails and rolls back, the
    mark goes too and a redelivery is handled again. On PostgreSQL a concurrent
    duplicate waits for the first transaction, then gets False.
    """
    stmt = (
        upsert_insert(session, ProcessedUpdate)
        .values(update_id=update_id, at=now_or(now))
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(col(ProcessedUpdate.update_id))
    )
    return (await session.exec(stmt)).first() is not None


async def purge_processed_updates(session: AsyncSession, before: datetime) -> int:
    """Forget ids older than `before` (Telegram keeps undelivered updates 24 hours)."""
    result = await session.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.at) < before))
    return result.rowcount
