"""Handoffs: a lead's card in the sales chat and who took it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or
from storage.tables import Handoff


async def create_handoff(
    session: AsyncSession, interview_id: int, chat_id: int, *, now: datetime | None = None
) -> Handoff:
    at = now_or(now)
    handoff = Handoff(interview_id=interview_id, chat_id=chat_id, created_at=at, updated_at=at)
    session.add(handoff)
    await session.flush()
    return handoff


async def get_handoff(session: AsyncSession, handoff_id: int) -> Handoff | None:
    return await session.get(Handoff, handoff_id, populate_existing=True)


async def get_handoff_by_message(
    session: AsyncSession, chat_id: int, message_id: int
) -> Handoff | None:
    """The handoff whose card is this message (a button press or a reply in the sales chat)."""
    stmt = select(Handoff).where(
        col(Handoff.chat_id) == chat_id, col(Handoff.message_id) == message_id
    )
    return (await session.exec(stmt.execution_options(populate_existing=True))).first()


async def list_handoffs(
    session: AsyncSession, *, interview_id: int | None = None, status: str | None = None
) -> list[Handoff]:
    stmt = select(Handoff)
    if interview_id is not None:
        stmt = stmt.where(col(Handoff.interview_id) == interview_id)
    if status is not None:
        stmt = stmt.where(col(Handoff.status) == status)
    return list((await session.exec(stmt.order_by(col(Handoff.id)))).all())


async def attach_handoff_message(
    session: AsyncSession,
    handoff_id: int,
    message_id: int,
    *,
    chat_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Record the card's message id once sent (and its chat, if it moved: a migrated group)."""
    values: dict[str, object] = {"message_id": message_id, "updated_at": now_or(now)}
    if chat_id is not None:
        values["chat_id"] = chat_id
    result = await session.exec(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def take_handoff(
    session: AsyncSession,
    handoff_id: int,
    user_id: int,
    user_name: str | None,
    *,
    now: datetime | None = None,
) -> bool:
    """Assign an open handoff to a salesperson. True for the one who got it.

    A conditional UPDATE, so when two people press "Take" at once exactly one
    wins on both databases; the other gets False and can be told who has it.
    """
    at = now_or(now)
    result = await session.exec(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id, col(Handoff.status) == "open")
        .values(
            status="taken", taken_by=user_id, taken_by_name=user_name, taken_at=at, updated_at=at
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def set_handoff_status(
    session: AsyncSession,
    handoff_id: int,
    status: str,
    *,
    expected: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Set the status (qualified, rejected, closed, open...); with `expected`, only from it."""
    stmt = update(Handoff).where(col(Handoff.id) == handoff_id)
    if expected is not None:
        stmt = stmt.where(col(Handoff.status) == expected)
    result = await session.exec(
        stmt.values(status=status, updated_at=now_or(now)).execution_options(
            synchronize_session=False
        )
    )
    return result.rowcount == 1
