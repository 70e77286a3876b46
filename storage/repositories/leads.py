"""Leads: one row per Telegram user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or, upsert_insert
from storage.tables import Answer, Interview, Lead, Outbox, Signal

PROFILE_FIELDS = frozenset({"username", "first_name", "last_name", "language", "source"})
UPDATABLE_FIELDS = PROFILE_FIELDS | {"company", "phone", "email", "opted_out", "blocked"}
PERSONAL_FIELDS = ("username", "first_name", "last_name", "company", "phone", "email")


def _check(fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown lead field(s): {', '.join(sorted(unknown))}")


async def get_lead(session: AsyncSession, lead_id: int) -> Lead | None:
    return await session.get(Lead, lead_id)


async def get_lead_by_telegram_id(session: AsyncSession, telegram_id: int) -> Lead | None:
    return (await session.exec(select(Lead).where(col(Lead.telegram_id) == telegram_id))).first()


async def get_or_create_lead(
    session: AsyncSession,
    telegram_id: int,
    *,
    now: datetime | None = None,
    read_first: bool = True,
    **profile: Any,
) -> tuple[Lead, bool]:
    """The lead of a Telegram user, created on first sight; (lead, created).

    Race-safe: INSERT ... ON CONFLICT DO NOTHING, so two updates of a new user
    handled at once (two processes, or a double click) never fail on the unique
    telegram_id; the loser just reads the winner's row. `profile` fields
    (username, first_name, last_name, language, source) are used only on insert.
    `read_first=False`: the caller just saw there is no such lead (skip that read).
    """
    _check(profile, PROFILE_FIELDS)
    # Read first: for a known user (nearly every update) this takes no write lock,
    # which on SQLite would otherwise serialise every update from its first statement.
    if read_first:
        found = await get_lead_by_telegram_id(session, telegram_id)
        if found is not None:
            return found, False
    at = now_or(now)
    stmt = (
        upsert_insert(session, Lead)
        .values(telegram_id=telegram_id, created_at=at, updated_at=at, **profile)
        .on_conflict_do_nothing(index_elements=["telegram_id"])
        .returning(Lead)
    )
    # The new row comes back whole; only the loser of a race reads the winner's row.
    inserted = (await session.exec(stmt)).scalars().first()
    if inserted is not None:
        return inserted, True
    created = False
    lead = (
        await session.exec(
            select(Lead)
            .where(col(Lead.telegram_id) == telegram_id)
            .execution_options(populate_existing=True)
        )
    ).one()
    return lead, created


async def update_lead(
    session: AsyncSession, lead_id: int, *, now: datetime | None = None, **fields: Any
) -> Lead:
    """Set fields (profile, company, phone, email, opted_out, blocked); returns the row."""
    _check(fields, UPDATABLE_FIELDS)
    lead = await session.get(Lead, lead_id)
    if lead is None:
        raise LookupError(f"no lead {lead_id}")
    for name, value in fields.items():
        setattr(lead, name, value)
    lead.updated_at = now_or(now)
    session.add(lead)
    await session.flush()
    return lead


async def list_leads(session: AsyncSession, *, include_forgotten: bool = True) -> list[Lead]:
    stmt = select(Lead).order_by(col(Lead.id))
    if not include_forgotten:
        stmt = stmt.where(col(Lead.forgotten).is_(False))
    return list((await session.exec(stmt)).all())


async def forget_lead(session: AsyncSession, lead_id: int, *, now: datetime | None = None) -> bool:
    """Erase a lead's personal data, keeping the numbers (scores, points, tiers).

    Names, username, phone, email and company go; every answer's raw text and
    value and every signal's raw text go; queued messages for the lead are
    cancelled and all its outbox payloads emptied (cards carry names). Returns
    False when there is no such lead. Cards already sent to Telegram are not
    touched: editing those is the caller's job.
    """
    at = now_or(now)
    result = await session.exec(
        update(Lead)
        .where(col(Lead.id) == lead_id)
        .values({**dict.fromkeys(PERSONAL_FIELDS), "forgotten": True, "updated_at": at})
    )
    if result.rowcount == 0:
        return False
    # Answers and signals change below: bump rev, which services' row caches check.
    await session.exec(
        update(Interview)
        .where(col(Interview.lead_id) == lead_id)
        .values(rev=col(Interview.rev) + 1)
        .execution_options(synchronize_session=False)
    )
    of_lead = sa_select(col(Interview.id)).where(col(Interview.lead_id) == lead_id)
    await session.exec(
        update(Answer).where(col(Answer.interview_id).in_(of_lead)).values(raw=None, value=None)
    )
    await session.exec(update(Signal).where(col(Signal.interview_id).in_(of_lead)).values(raw=None))
    await session.exec(
        update(Outbox)
        .where(col(Outbox.lead_id) == lead_id, col(Outbox.status).in_(("pending", "sending")))
        .values(status="cancelled", lease_until=None)
    )
    await session.exec(update(Outbox).where(col(Outbox.lead_id) == lead_id).values(payload={}))
    return True
