"""Interviews, their answers and signals.

The interview row is the conversation's state (no aiogram FSM). The engine's
types live in flows/, which storage must not import, so answers and signals
come in as anything with the right attributes (`AnswerLike`, `SignalLike`):
flows' `AnswerRecord` and `SignalRecord` fit as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or, ts
from storage.tables import Answer, Interview, Lead, Signal, join_option_ids

ENDED_STATUSES = frozenset({"finished", "cancelled", "out"})


class StaleInterviewError(Exception):
    """The interview changed since the caller read it (another process saved a step)."""


class ActiveInterviewExistsError(Exception):
    def __init__(self, interview_id: int) -> None:
        super().__init__(f"lead already has active interview {interview_id}")
        self.interview_id = interview_id


class AnswerLike(Protocol):
    @property
    def question_id(self) -> str: ...
    @property
    def parameter(self) -> str | None: ...
    @property
    def raw(self) -> str | None: ...
    @property
    def option_ids(self) -> Sequence[str]: ...
    @property
    def value(self) -> str | None: ...
    @property
    def points(self) -> int: ...
    @property
    def unknown(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...


class SignalLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def points(self) -> int: ...
    @property
    def raw(self) -> str | None: ...


@dataclass(frozen=True)
class AnswerData:
    """A ready-made AnswerLike, for callers without flows' AnswerRecord (tests, imports)."""

    question_id: str
    parameter: str | None = None
    raw: str | None = None
    option_ids: tuple[str, ...] = ()
    value: str | None = None
    points: int = 0
    unknown: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class SignalData:
    kind: str
    name: str
    points: int = 0
    raw: str | None = None


@dataclass(frozen=True)
class InterviewProgress:
    """Everything one engine step changes on the interview row; every field is written."""

    state: str
    misses: int = 0
    status: str = "active"
    knockout: str | None = None
    fast_tracked: bool = False
    tier: str | None = None
    stage: str | None = None
    framework_score: int | None = None
    max_score: int | None = None
    percent: float | None = None
    fit_score: int | None = None
    engagement_score: int | None = None


@dataclass
class InterviewRecord:
    """An interview with its current answers (not superseded, by seq) and signals (in order)."""

    interview: Interview
    answers: list[Answer] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)


@dataclass
class StepSaved:
    interview: Interview
    answers: list[Answer]  # current answers after the step, by seq
    appended: list[Answer]
    superseded: list[Answer]
    signals_added: list[Signal]


def _answer_key(a: AnswerLike | Answer) -> tuple[Any, ...]:
    options = a.option_ids if isinstance(a, Answer) else join_option_ids(list(a.option_ids))
    return (a.question_id, a.parameter, a.raw, options, a.value, a.points, a.unknown, a.reason)


async def _touch_lead(session: AsyncSession, lead_id: int, at: datetime) -> None:
    # Write first: locks the lead (PG row lock / SQLite write lock) so two starts
    # for one lead run one after the other. See storage/sql.py.
    result = await session.exec(update(Lead).where(col(Lead.id) == lead_id).values(updated_at=at))
    if result.rowcount == 0:
        raise LookupError(f"no lead {lead_id}")


async def start_interview(
    session: AsyncSession,
    lead_id: int,
    *,
    flow_id: str,
    digest: str,
    lang: str,
    state: str,
    flow_version_id: int | None = None,
    source: str | None = None,
    replace_active: bool = True,
    now: datetime | None = None,
) -> Interview:
    """Start a new interview for a lead.

    With `replace_active` (the default, e.g. /start again) an active interview of
    the lead is cancelled first; otherwise ActiveInterviewExistsError is raised.
    Safe when two starts race: the lead row is locked before anything is read.
    """
    at = now_or(now)
    await _touch_lead(session, lead_id, at)
    active = await _active_interview(session, lead_id)
    if active is not None:
        if not replace_active:
            raise ActiveInterviewExistsError(active.id or 0)
        active.status = "cancelled"
        active.finished_at = at
        active.updated_at = at
        session.add(active)
        # Flush now: the partial unique index must see the old one inactive first.
        await session.flush()
    interview = Interview(
        lead_id=lead_id,
        flow_id=flow_id,
        flow_version_id=flow_version_id,
        digest=digest,
        lang=lang,
        state=state,
        source=source,
        started_at=at,
        updated_at=at,
    )
    session.add(interview)
    await session.flush()
    return interview


async def _active_interview(session: AsyncSession, lead_id: int) -> Interview | None:
    stmt = select(Interview).where(
        col(Interview.lead_id) == lead_id, col(Interview.status) == "active"
    )
    return (await session.exec(stmt.execution_options(populate_existing=True))).first()


async def _record(session: AsyncSession, interview: Interview) -> InterviewRecord:
    answers = await session.exec(
        select(Answer)
        .where(col(Answer.interview_id) == interview.id, col(Answer.superseded).is_(False))
        .order_by(col(Answer.seq))
    )
    signals = await session.exec(
        select(Signal).where(col(Signal.interview_id) == interview.id).order_by(col(Signal.id))
    )
    return InterviewRecord(interview, list(answers.all()), list(signals.all()))


async def get_interview(session: AsyncSession, interview_id: int) -> InterviewRecord | None:
    interview = await session.get(Interview, interview_id, populate_existing=True)
    return None if interview is None else await _record(session, interview)


async def get_active_interview(session: AsyncSession, lead_id: int) -> InterviewRecord | None:
    interview = await _active_interview(session, lead_id)
    return None if interview is None else await _record(session, interview)


async def list_answers(
    session: AsyncSession, interview_id: int, *, include_superseded: bool = False
) -> list[Answer]:
    stmt = select(Answer).where(col(Answer.interview_id) == interview_id)
    if not include_superseded:
        stmt = stmt.where(col(Answer.superseded).is_(False))
    return list((await session.exec(stmt.order_by(col(Answer.seq)))).all())


async def save_step(
    session: AsyncSession,
    interview_id: int,
    progress: InterviewProgress,
    *,
    answers: Sequence[AnswerLike],
    signals: Sequence[SignalLike] = (),
    expected_rev: int | None = None,
    now: datetime | None = None,
) -> StepSaved:
    """Save the result of one engine step, inside the caller's transaction.

    Pass the state after the step as it is: `answers=step.state.answers`,
    `signals=step.state.signals`. Stored answers are reconciled with `answers`:
    the common prefix stays, stored answers past it are marked superseded (the
    prospect went Back or corrected one), the rest are appended with new seq
    numbers. Signals are history (the engine only ever appends them, Back
    included), so those past the number already stored are appended.
    With `expected_rev` (the `rev` the caller read), a concurrent step by
    another process raises StaleInterviewError instead of being overwritten.
    Ending statuses (finished, out, cancelled) set finished_at once.
    """
    at = now_or(now)
    values: dict[str, Any] = {
        "state": progress.state,
        "misses": progress.misses,
        "status": progress.status,
        "knockout": progress.knockout,
        "fast_tracked": progress.fast_tracked,
        "tier": progress.tier,
        "stage": progress.stage,
        "framework_score": progress.framework_score,
        "max_score": progress.max_score,
        "percent": progress.percent,
        "fit_score": progress.fit_score,
        "engagement_score": progress.engagement_score,
        "updated_at": at,
        "rev": col(Interview.rev) + 1,
    }
    if progress.status in ENDED_STATUSES:
        values["finished_at"] = func.coalesce(col(Interview.finished_at), ts(at))
    stmt = update(Interview).where(col(Interview.id) == interview_id)
    if expected_rev is not None:
        stmt = stmt.where(col(Interview.rev) == expected_rev)
    # Write first (see storage/sql.py): this also locks the interview for the rest.
    result = await session.exec(stmt.values(values).execution_options(synchronize_session=False))
    if result.rowcount == 0:
        if await session.get(Interview, interview_id) is None:
            raise LookupError(f"no interview {interview_id}")
        raise StaleInterviewError(f"interview {interview_id} is not at rev {expected_rev}")

    stored = list(
        (
            await session.exec(
                select(Answer)
                .where(col(Answer.interview_id) == interview_id)
                .order_by(col(Answer.seq))
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    current = [a for a in stored if not a.superseded]
    keep = 0
    while (
        keep < len(current)
        and keep < len(answers)
        and _answer_key(current[keep]) == _answer_key(answers[keep])
    ):
        keep += 1
    superseded = current[keep:]
    for row in superseded:
        row.superseded = True
        session.add(row)
    next_seq = (stored[-1].seq if stored else 0) + 1
    appended: list[Answer] = []
    for offset, a in enumerate(answers[keep:]):
        row = Answer(
            interview_id=interview_id,
            seq=next_seq + offset,
            question_id=a.question_id,
            parameter=a.parameter,
            raw=a.raw,
            option_ids=join_option_ids(list(a.option_ids)),
            value=a.value,
            points=a.points,
            unknown=a.unknown,
            reason=a.reason,
            created_at=at,
        )
        session.add(row)
        appended.append(row)
    stored_signals = (
        await session.exec(
            select(func.count()).select_from(Signal).where(col(Signal.interview_id) == interview_id)
        )
    ).one()
    new_signals = [
        Signal(
            interview_id=interview_id,
            kind=s.kind,
            name=s.name,
            points=s.points,
            raw=s.raw,
            created_at=at,
        )
        for s in signals[stored_signals:]
    ]
    session.add_all(new_signals)
    await session.flush()
    interview = await session.get(Interview, interview_id, populate_existing=True)
    assert interview is not None
    return StepSaved(interview, current[:keep] + appended, appended, superseded, new_signals)


UPDATABLE_FIELDS = frozenset(
    {"status", "tier", "stage", "last_message_id", "lang", "state", "misses", "source"}
)


async def update_interview(
    session: AsyncSession, interview_id: int, *, now: datetime | None = None, **fields: Any
) -> Interview:
    """Set a few fields outside an engine step (status, stage, last_message_id, ...).

    An ending status sets finished_at if not set. Bumps `rev` when state changes.
    """
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"unknown interview field(s): {', '.join(sorted(unknown))}")
    at = now_or(now)
    values: dict[str, Any] = {**fields, "updated_at": at}
    if fields.get("status") in ENDED_STATUSES:
        values["finished_at"] = func.coalesce(col(Interview.finished_at), ts(at))
    if {"state", "misses", "status"} & fields.keys():
        values["rev"] = col(Interview.rev) + 1
    result = await session.exec(
        update(Interview)
        .where(col(Interview.id) == interview_id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        raise LookupError(f"no interview {interview_id}")
    interview = await session.get(Interview, interview_id, populate_existing=True)
    assert interview is not None
    return interview


async def cancel_interview(
    session: AsyncSession, interview_id: int, *, now: datetime | None = None
) -> Interview:
    return await update_interview(session, interview_id, status="cancelled", now=now)


async def list_interviews(
    session: AsyncSession,
    *,
    flow_id: str | None = None,
    flow_version_id: int | None = None,
    lead_id: int | None = None,
    statuses: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Interview]:
    """Interviews started in [since, until), oldest first, for stats and export."""
    stmt = select(Interview)
    if flow_id is not None:
        stmt = stmt.where(col(Interview.flow_id) == flow_id)
    if flow_version_id is not None:
        stmt = stmt.where(col(Interview.flow_version_id) == flow_version_id)
    if lead_id is not None:
        stmt = stmt.where(col(Interview.lead_id) == lead_id)
    if statuses is not None:
        stmt = stmt.where(col(Interview.status).in_(tuple(statuses)))
    if since is not None:
        stmt = stmt.where(col(Interview.started_at) >= ts(since))
    if until is not None:
        stmt = stmt.where(col(Interview.started_at) < ts(until))
    stmt = stmt.order_by(col(Interview.started_at), col(Interview.id))
    return list((await session.exec(stmt)).all())
