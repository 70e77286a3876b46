"""Telegram update ids already handled: Telegram redelivers after a failed webhook
answer or a restart, and a redelivered "Take" or answer must not act twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import dialect_name, now_or, upsert_insert
from storage.tables import ProcessedUpdate

_TABLE: Table = ProcessedUpdate.__table__  # type: ignore[attr-defined]
# Built once per dialect: this runs on every update, and building a statement
# costs more than running it. A Core statement (the table, not the ORM entity).
_MARK: dict[str, Any] = {}


def _mark_statement(session: AsyncSession) -> Any:
    name = dialect_name(session)
    stmt = _MARK.get(name)
    if stmt is None:
        stmt = _MARK[name] = (
            upsert_insert(session, _TABLE)
            .values(update_id=bindparam("p_update_id"), at=bindparam("p_at"))
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(_TABLE.c.update_id)
        )
    return stmt


async def mark_update_processed(
    session: AsyncSession, update_id: int, *, now: datetime | None = None
) -> bool:
    """True the first time an update id is seen, False for a duplicate.

    Race-safe (INSERT ... ON CONFLICT DO NOTHING). Call it inside the same
    transaction as the update's effects: if handling fails and rolls back, the
    mark goes too and a redelivery is handled again. On PostgreSQL a concurrent
    duplicate waits for the first transaction, then gets False.
    """
    params = {"p_update_id": update_id, "p_at": now_or(now)}
    return (await session.exec(_mark_statement(session), params=params)).first() is not None


async def purge_processed_updates(session: AsyncSession, before: datetime) -> int:
    """Forget ids older than `before` (Telegram keeps undelivered updates 24 hours)."""
    result = await session.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.at) < before))
    return result.rowcount
