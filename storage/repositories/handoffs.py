"""Handoffs: a lead's card in the sales chat and who took it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or, upsert_insert
from storage.tables import Handoff, HandoffMessage

# Bot messages in the sales chat that stand for a lead: a reply to one of them is
# a reply to that lead (the salesperson's own relayed messages are not among them).
THREAD_BOT_KINDS = ("card", "from_prospect")


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
    """The handoff whose card is this message (a button press or a reply in the sales chat):
    the card as it is now, or any bot message of the lead's thread (an earlier card that
    the SLA timer raised again, a relayed message of the prospect)."""
    stmt = select(Handoff).where(
        col(Handoff.chat_id) == chat_id, col(Handoff.message_id) == message_id
    )
    found = (await session.exec(stmt.execution_options(populate_existing=True))).first()
    if found is not None:
        return found
    thread = (
        select(Handoff)
        .join(HandoffMessage, col(HandoffMessage.handoff_id) == col(Handoff.id))
        .where(
            col(HandoffMessage.chat_id) == chat_id,
            col(HandoffMessage.message_id) == message_id,
            col(HandoffMessage.kind).in_(THREAD_BOT_KINDS),
        )
    )
    return (await session.exec(thread.execution_options(populate_existing=True))).first()


async def add_handoff_message(
    session: AsyncSession,
    handoff_id: int,
    chat_id: int,
    kind: str,
    *,
    message_id: int | None = None,
    update_id: int | None = None,
    now: datetime | None = None,
) -> int | None:
    """Record a message of the lead's thread; its row id, or None when this
    (chat, message) is recorded already (the outbox reports a card at least once)."""
    stmt = (
        upsert_insert(session, HandoffMessage)
        .values(
            handoff_id=handoff_id,
            chat_id=chat_id,
            message_id=message_id,
            kind=kind,
            update_id=update_id,
            created_at=now_or(now),
        )
        .on_conflict_do_nothing(index_elements=["chat_id", "message_id"])
        .returning(col(HandoffMessage.id))
    )
    return (await session.exec(stmt)).scalar_one_or_none()


async def set_handoff_message_sent(
    session: AsyncSession, row_id: int, chat_id: int, message_id: int
) -> bool:
    """A relayed message went out: remember its Telegram id (and chat, if it moved)."""
    result = await session.exec(
        update(HandoffMessage)
        .where(col(HandoffMessage.id) == row_id)
        .values(chat_id=chat_id, message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def list_handoff_messages(session: AsyncSession, handoff_id: int) -> list[HandoffMessage]:
    stmt = (
        select(HandoffMessage)
        .where(col(HandoffMessage.handoff_id) == handoff_id)
        .order_by(col(HandoffMessage.id))
    )
    return list((await session.exec(stmt)).all())


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
    """Record the card's message id once sent (and its chat, if it moved: a migrated group).

    The handoff points at the newest card (edits and buttons go there); every card
    message is also kept in handoff_message, so a reply to an older one (before the
    SLA timer raised the card again) still reaches the lead.
    """
    values: dict[str, object] = {"message_id": message_id, "updated_at": now_or(now)}
    if chat_id is not None:
        values["chat_id"] = chat_id
    result = await session.exec(
        update(Handoff)
        .where(col(Handoff.id) == handoff_id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    if chat_id is None:
        handoff = await get_handoff(session, handoff_id)
        assert handoff is not None
        chat_id = handoff.chat_id
    await add_handoff_message(session, handoff_id, chat_id, "card", message_id=message_id, now=now)
    return True


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
