"""Persistent outbox: messages to send, written in the transaction that decided them.

A lead's card is enqueued in the same transaction as the tier change that calls
for it, so either both happen or neither; a worker (bot/telegram's sender)
claims due messages, sends them and marks the result. Delivery is at least
once: a worker that dies after sending but before `mark_sent` leaves a message
that is claimed again when its lease runs out, so give a `dedup_key` to
anything that must not be enqueued twice, and keep leases longer than a send.

Attempts are counted when a message is claimed, so a message that crashes its
worker every time still reaches the give-up cap (status "dead").

Cards first: a batch is filled with due `card` rows before anything else, so a
new hot lead's card never waits for a slot behind card edits (the sales group
takes one message every 3 s). Edits of one card coalesce: a step's edit
(`card_edit:<interview>:<rev>`) shows the whole card as of that step, so only the
newest pending one needs sending (`coalesce_edit`).

Timers (same claim semantics) are in storage/timers.py and re-exported here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.claims import claim_rows
from storage.database import Database
from storage.sql import now_or, ts, upsert_insert
from storage.tables import Outbox
from storage.timers import (
    DEFAULT_TIMER_LEASE_SECONDS,
    cancel_timers,
    claim_due_timers,
    get_timer,
    list_timers,
    mark_timer_fired,
    retry_timer,
    schedule_timer,
)
from storage.timestamps import as_utc

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_LEASE_SECONDS = 60


async def enqueue(
    session: AsyncSession,
    kind: str,
    chat_id: int,
    payload: dict[str, Any],
    dedup_key: str | None = None,
    not_before: datetime | None = None,
    *,
    lead_id: int | None = None,
    now: datetime | None = None,
) -> int | None:
    """Queue a message in the caller's transaction; its id, or None for a duplicate.

    A second message with the same `dedup_key` is ignored, not an error (even
    when both transactions run at once). `not_before=None` means as soon as
    possible. Give `lead_id` when the payload holds a lead's personal data, so
    forgetting the lead can clear it.
    """
    stmt = (
        upsert_insert(session, Outbox)
        .values(
            kind=kind,
            chat_id=chat_id,
            payload=payload,
            dedup_key=dedup_key,
            not_before=None if not_before is None else as_utc(not_before),
            lead_id=lead_id,
            created_at=now_or(now),
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(col(Outbox.id))
    )
    return (await session.exec(stmt)).scalar_one_or_none()


def _lease_expired(now: datetime) -> Any:
    return and_(col(Outbox.status) == "sending", col(Outbox.lease_until) <= ts(now))


async def claim_batch(
    db: Database,
    now: datetime,
    limit: int = 20,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    worker_id: str = "worker",
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> list[Outbox]:
    """Claim up to `limit` due messages, oldest first, for `lease_seconds`.

    Due: pending with `not_before` unset or reached, or being sent by a worker
    whose lease has run out. A lease that ran out on the last allowed attempt
    makes the message dead instead. Runs its own short transaction.
    """
    now = as_utc(now)
    give_up = (
        update(Outbox)
        .where(_lease_expired(now), col(Outbox.attempts) >= max_attempts)
        .values(
            status="dead", lease_until=None, error=func.coalesce(col(Outbox.error), "lease expired")
        )
        .execution_options(synchronize_session=False)
    )
    due = _due(now)
    values = {
        "status": "sending",
        "lease_until": now + timedelta(seconds=lease_seconds),
        "claimed_by": worker_id,
        "attempts": col(Outbox.attempts) + 1,
    }
    is_card = col(Outbox.kind) == "card"
    # Two claims, cards first, rather than one ORDER BY over a computed priority: each
    # stays a plain scan of due rows in id order (and the sender keeps cards in order).
    cards = await claim_rows(
        db,
        Outbox,
        due=and_(due, is_card),
        order_by=["id"],
        limit=limit,
        values=values,
        before=[give_up],
    )
    rest = await claim_rows(
        db,
        Outbox,
        due=and_(due, ~is_card),
        order_by=["id"],
        limit=limit - len(cards),
        values=values,
    )
    return cards + rest


def _due(now: datetime) -> Any:
    return or_(
        and_(
            col(Outbox.status) == "pending",
            or_(col(Outbox.not_before).is_(None), col(Outbox.not_before) <= ts(now)),
        ),
        _lease_expired(now),
    )


async def card_due(session: AsyncSession, now: datetime) -> bool:
    """Is a card waiting to be claimed (due now)? The sender then yields its edits."""
    now = as_utc(now)
    stmt = select(col(Outbox.id)).where(col(Outbox.kind) == "card", _due(now)).limit(1)
    return (await session.exec(stmt)).first() is not None


EDIT_PREFIX = "card_edit:"


def edit_group(dedup_key: str | None) -> str | None:
    """The prefix shared by one card's step edits (`card_edit:<interview>:`), or None for
    edits that are not a step's whole card (e.g. the SLA's or /forget's note)."""
    if not dedup_key or not dedup_key.startswith(EDIT_PREFIX):
        return None
    group, sep, _rev = dedup_key.rpartition(":")
    return group + sep if group != EDIT_PREFIX.rstrip(":") else None


async def coalesce_edit(session: AsyncSession, row: Outbox) -> int | None:
    """Before sending the claimed edit `row`: the id of a newer edit of the same card
    still to be sent (then skip `row`: the newer one shows the card as it is now), or
    None, after cancelling the older ones still pending (they would only show an older
    state, and each costs the group a message)."""
    group = edit_group(row.dedup_key)
    if group is None or row.id is None:
        return None
    same = and_(
        col(Outbox.kind) == "card_edit",
        col(Outbox.dedup_key).startswith(group, autoescape=True),
    )
    newer = (
        await session.exec(
            select(col(Outbox.id))
            .where(
                same,
                col(Outbox.id) > row.id,
                col(Outbox.status).in_(("pending", "sending")),
            )
            .order_by(col(Outbox.id).desc())
            .limit(1)
        )
    ).first()
    if newer is not None:
        return newer
    await session.exec(
        update(Outbox)
        .where(same, col(Outbox.id) < row.id, col(Outbox.status) == "pending")
        .values(status="cancelled", error=f"superseded by outbox {row.id}", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return None


def _claimed(outbox_id: int, worker_id: str | None) -> list[Any]:
    where = [col(Outbox.id) == outbox_id, col(Outbox.status) == "sending"]
    if worker_id is not None:
        # A worker whose lease ran out and was re-claimed must not overwrite the new claim.
        where.append(col(Outbox.claimed_by) == worker_id)
    return where


async def mark_sent(
    session: AsyncSession,
    outbox_id: int,
    *,
    now: datetime,
    message_id: int | None = None,
    worker_id: str | None = None,
) -> bool:
    """Record a successful send (and the Telegram message id). False if not claimed (by us)."""
    result = await session.exec(
        update(Outbox)
        .where(*_claimed(outbox_id, worker_id))
        .values(
            status="sent", sent_at=as_utc(now), message_id=message_id, lease_until=None, error=None
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def mark_failed(
    session: AsyncSession,
    outbox_id: int,
    error: str,
    retry_at: datetime | None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    worker_id: str | None = None,
) -> str | None:
    """Record a failed send; the new status, or None if the message was not claimed (by us).

    Pending again at `retry_at`, or "dead" when `retry_at` is None (a permanent
    error, e.g. the bot was blocked) or the message has used `max_attempts`.
    """
    give_up = col(Outbox.attempts) >= max_attempts
    if retry_at is None:
        status: Any = "dead"
        not_before: Any = col(Outbox.not_before)
    else:
        status = case((give_up, "dead"), else_="pending")
        not_before = case((give_up, col(Outbox.not_before)), else_=ts(retry_at))
    result = await session.exec(
        update(Outbox)
        .where(*_claimed(outbox_id, worker_id))
        .values(status=status, not_before=not_before, error=error[:2000], lease_until=None)
        .returning(col(Outbox.status))
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def reschedule(
    session: AsyncSession,
    outbox_id: int,
    not_before: datetime,
    *,
    count_attempt: bool = False,
    worker_id: str | None = None,
) -> bool:
    """Put a claimed message back for later, e.g. after a 429 with retry_after.

    By default the attempt is given back: being rate limited is not the
    message's fault and must not bring it closer to the give-up cap.
    """
    values: dict[str, Any] = {
        "status": "pending",
        "not_before": as_utc(not_before),
        "lease_until": None,
    }
    if not count_attempt:
        values["attempts"] = case((col(Outbox.attempts) > 0, col(Outbox.attempts) - 1), else_=0)
    result = await session.exec(
        update(Outbox)
        .where(*_claimed(outbox_id, worker_id))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def cancel_outbox(
    session: AsyncSession, *, outbox_id: int | None = None, dedup_key: str | None = None
) -> bool:
    """Cancel a message not yet sent, by id or dedup key."""
    if (outbox_id is None) == (dedup_key is None):
        raise ValueError("give exactly one of outbox_id, dedup_key")
    where = (
        col(Outbox.id) == outbox_id if outbox_id is not None else col(Outbox.dedup_key) == dedup_key
    )
    result = await session.exec(
        update(Outbox)
        .where(where, col(Outbox.status).in_(("pending", "sending")))
        .values(status="cancelled", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def get_outbox(session: AsyncSession, outbox_id: int) -> Outbox | None:
    return await session.get(Outbox, outbox_id, populate_existing=True)


async def list_outbox(
    session: AsyncSession, *, status: str | None = None, chat_id: int | None = None
) -> list[Outbox]:
    stmt = select(Outbox)
    if status is not None:
        stmt = stmt.where(col(Outbox.status) == status)
    if chat_id is not None:
        stmt = stmt.where(col(Outbox.chat_id) == chat_id)
    return list((await session.exec(stmt.order_by(col(Outbox.id)))).all())


async def purge_outbox(session: AsyncSession, before: datetime) -> int:
    """Delete sent, dead and cancelled messages created before `before`."""
    result = await session.exec(
        delete(Outbox).where(
            col(Outbox.status).in_(("sent", "dead", "cancelled")),
            col(Outbox.created_at) < ts(before),
        )
    )
    return result.rowcount


__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_TIMER_LEASE_SECONDS",
    "cancel_outbox",
    "cancel_timers",
    "card_due",
    "claim_batch",
    "claim_due_timers",
    "coalesce_edit",
    "edit_group",
    "enqueue",
    "get_outbox",
    "get_timer",
    "list_outbox",
    "list_timers",
    "mark_failed",
    "mark_sent",
    "mark_timer_fired",
    "purge_outbox",
    "reschedule",
    "retry_timer",
    "schedule_timer",
]
