"""Timers: "do X for this interview at time T" (idle follow-ups, reminders).

Same claim semantics as the outbox (storage/claims.py): a worker claims due
timers with a lease, fires them and marks them fired; a timer whose worker died
is due again when the lease runs out, and after `max_attempts` claims it is
given up ("dead").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.claims import claim_rows
from storage.database import Database
from storage.sql import dialect_name, now_or, ts
from storage.tables import Timer
from storage.timestamps import as_utc

DEFAULT_TIMER_LEASE_SECONDS = 60
DEFAULT_TIMER_MAX_ATTEMPTS = 5
_OPEN = ("pending", "claimed")
_TIMER: Table = Timer.__table__  # type: ignore[attr-defined]


async def schedule_timer(
    session: AsyncSession,
    kind: str,
    interview_id: int | None,
    due_at: datetime,
    dedup_key: str | None = None,
    *,
    replace: bool = False,
    replace_statuses: tuple[str, ...] | None = None,
    now: datetime | None = None,
) -> int | None:
    """Schedule a timer in the caller's transaction; its id, or None for a duplicate key.

    With `replace=True` an existing timer with the same `dedup_key` is reset to
    pending at the new `due_at`, whatever its state: "push the idle reminder
    back on every answer" is one call with a key like f"idle:{interview_id}".
    `replace_statuses` limits that to an existing timer in one of those statuses
    (others stay as they are, and None is returned), still in one statement.
    """
    params = {
        "t_kind": kind,
        "t_interview_id": interview_id,
        "t_due_at": as_utc(due_at),
        "t_dedup_key": dedup_key,
        "t_created_at": now_or(now),
    }
    stmt = _schedule_statement(
        dialect_name(session), replace and dedup_key is not None, replace_statuses
    )
    return (await session.exec(stmt, params=params)).scalar_one_or_none()


@lru_cache(maxsize=16)
def _schedule_statement(
    dialect: str, replace: bool, replace_statuses: tuple[str, ...] | None
) -> Any:
    """schedule_timer's upsert, built once per shape: it runs on every answer (the
    reminder is pushed back), and building a statement costs more than running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_TIMER).values(
        kind=bindparam("t_kind"),
        interview_id=bindparam("t_interview_id"),
        due_at=bindparam("t_due_at"),
        dedup_key=bindparam("t_dedup_key"),
        created_at=bindparam("t_created_at"),
    )
    if replace:
        new = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["dedup_key"],
            set_={
                "kind": new.kind,
                "interview_id": new.interview_id,
                "due_at": new.due_at,
                "status": "pending",
                "attempts": 0,
                "lease_until": None,
                "claimed_by": None,
                "fired_at": None,
            },
            where=None if replace_statuses is None else _TIMER.c.status.in_(replace_statuses),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"])
    return stmt.returning(_TIMER.c.id)


def _lease_expired(now: datetime) -> Any:
    return and_(col(Timer.status) == "claimed", col(Timer.lease_until) <= ts(now))


async def claim_due_timers(
    db: Database,
    now: datetime,
    limit: int = 50,
    worker_id: str = "worker",
    *,
    lease_seconds: float = DEFAULT_TIMER_LEASE_SECONDS,
    max_attempts: int = DEFAULT_TIMER_MAX_ATTEMPTS,
) -> list[Timer]:
    """Claim up to `limit` due timers, earliest due first. Runs its own transaction."""
    now = as_utc(now)
    give_up = (
        update(Timer)
        .where(_lease_expired(now), col(Timer.attempts) >= max_attempts)
        .values(status="dead", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    due = or_(
        and_(col(Timer.status) == "pending", col(Timer.due_at) <= ts(now)),
        _lease_expired(now),
    )
    return await claim_rows(
        db,
        Timer,
        due=due,
        order_by=["due_at", "id"],
        limit=limit,
        values={
            "status": "claimed",
            "lease_until": now + timedelta(seconds=lease_seconds),
            "claimed_by": worker_id,
            "attempts": col(Timer.attempts) + 1,
        },
        before=[give_up],
    )


async def mark_timer_fired(
    session: AsyncSession, timer_id: int, *, now: datetime, worker_id: str | None = None
) -> bool:
    """Done. False when the timer was cancelled (or re-claimed by another worker) meanwhile."""
    where = [col(Timer.id) == timer_id, col(Timer.status) == "claimed"]
    if worker_id is not None:
        where.append(col(Timer.claimed_by) == worker_id)
    result = await session.exec(
        update(Timer)
        .where(*where)
        .values(status="fired", fired_at=as_utc(now), lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def retry_timer(
    session: AsyncSession, timer_id: int, due_at: datetime, *, worker_id: str | None = None
) -> bool:
    """Put a claimed timer back as pending at `due_at` (handling it failed for now)."""
    where = [col(Timer.id) == timer_id, col(Timer.status) == "claimed"]
    if worker_id is not None:
        where.append(col(Timer.claimed_by) == worker_id)
    result = await session.exec(
        update(Timer)
        .where(*where)
        .values(status="pending", due_at=as_utc(due_at), lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def cancel_timers(session: AsyncSession, interview_id: int, kind: str | None = None) -> int:
    """Cancel an interview's pending (and claimed) timers, of one kind or all; how many."""
    stmt = update(Timer).where(
        col(Timer.interview_id) == interview_id, col(Timer.status).in_(_OPEN)
    )
    if kind is not None:
        stmt = stmt.where(col(Timer.kind) == kind)
    result = await session.exec(
        stmt.values(status="cancelled", lease_until=None).execution_options(
            synchronize_session=False
        )
    )
    return result.rowcount


async def get_timer(session: AsyncSession, timer_id: int) -> Timer | None:
    return await session.get(Timer, timer_id, populate_existing=True)


async def list_timers(
    session: AsyncSession, *, interview_id: int | None = None, status: str | None = None
) -> list[Timer]:
    stmt = select(Timer)
    if interview_id is not None:
        stmt = stmt.where(col(Timer.interview_id) == interview_id)
    if status is not None:
        stmt = stmt.where(col(Timer.status) == status)
    return list((await session.exec(stmt.order_by(col(Timer.due_at), col(Timer.id)))).all())
