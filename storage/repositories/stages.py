"""Stage changes: who moved an interview's lead to which stage, when and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or
from storage.tables import Interview, StageChange


async def append_stage_change(
    session: AsyncSession,
    interview_id: int,
    from_stage: str | None,
    to_stage: str | None,
    *,
    by_user: int | None = None,
    by_name: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> StageChange:
    """Record a change only (the interview row is the caller's; see change_stage)."""
    row = StageChange(
        interview_id=interview_id,
        from_stage=from_stage,
        to_stage=to_stage,
        by_user=by_user,
        by_name=by_name,
        reason=reason,
        at=now_or(now),
    )
    session.add(row)
    await session.flush()
    return row


async def change_stage(
    session: AsyncSession,
    interview_id: int,
    to_stage: str | None,
    *,
    by_user: int | None = None,
    by_name: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> StageChange | None:
    """Move the interview to `to_stage` and record it; None when it is already there.

    The interview row is touched before its stage is read (write first, see
    storage/sql.py), so two people changing the stage at once are recorded in
    order with correct from/to.
    """
    at = now_or(now)
    touched = await session.exec(
        update(Interview)
        .where(col(Interview.id) == interview_id)
        .values(updated_at=at)
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount == 0:
        raise LookupError(f"no interview {interview_id}")
    interview = await session.get(Interview, interview_id, populate_existing=True)
    assert interview is not None
    if interview.stage == to_stage:
        return None
    from_stage = interview.stage
    interview.stage = to_stage
    session.add(interview)
    return await append_stage_change(
        session,
        interview_id,
        from_stage,
        to_stage,
        by_user=by_user,
        by_name=by_name,
        reason=reason,
        now=at,
    )


async def list_stage_changes(session: AsyncSession, interview_id: int) -> list[StageChange]:
    stmt = (
        select(StageChange)
        .where(col(StageChange.interview_id) == interview_id)
        .order_by(col(StageChange.id))
    )
    return list((await session.exec(stmt)).all())
