"""Audit log: who did what to what, from which value to which."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or
from storage.tables import Audit


async def add_audit(
    session: AsyncSession,
    who: str,
    what: str,
    *,
    who_id: int | None = None,
    subject: str | None = None,
    from_value: str | None = None,
    to_value: str | None = None,
    now: datetime | None = None,
) -> Audit:
    row = Audit(
        who=who,
        who_id=who_id,
        what=what,
        subject=subject,
        from_value=from_value,
        to_value=to_value,
        at=now_or(now),
    )
    session.add(row)
    await session.flush()
    return row


async def list_audit(
    session: AsyncSession,
    *,
    what: str | None = None,
    subject: str | None = None,
    limit: int = 100,
) -> list[Audit]:
    """Newest first."""
    stmt = select(Audit)
    if what is not None:
        stmt = stmt.where(col(Audit.what) == what)
    if subject is not None:
        stmt = stmt.where(col(Audit.subject) == subject)
    stmt = stmt.order_by(col(Audit.at).desc(), col(Audit.id).desc()).limit(limit)
    return list((await session.exec(stmt)).all())
