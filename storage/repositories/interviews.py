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
from functools import cached_property, lru_cache
from typing import Any, Protocol

from sqlalchemy import Table, and_, bindparam, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or, ts
from storage.tables import Answer, Handoff, Interview, Lead, Signal, join_option_ids
from storage.timestamps import UTCDateTime

ENDED_STATUSES = frozenset({"finished", "cancelled", "out"})
_IV: Table = Interview.__table__  # type: ignore[attr-defined]
_ANSWER: Table = Answer.__table__  # type: ignore[attr-defined]
_SIGNAL: Table = Signal.__table__  # type: ignore[attr-defined]
_INSERT_ANSWER = insert(_ANSWER)
_INSERT_SIGNAL = insert(_SIGNAL)
# A handoff in these statuses (with its card sent) relays the prospect's messages to
# sales (bot/services/relay.py uses the same tuple).
RELAY_STATUSES = ("taken", "qualified")
KEEP_MESSAGE_ID = -1  # save_step: leave last_message_id as it is (Telegram ids are > 0)


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
    """An interview with its current answers (not superseded, by seq) and signals (in order).

    `last_seq`: the highest answer seq stored, superseded ones included (None: not read).
    """

    interview: Interview
    answers: list[Answer] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    last_seq: int | None = None


@dataclass(frozen=True)
class StoredRows:
    """An interview's answer and signal rows as `save_step` needs them, at `rev`.

    A caller that read them (or kept them from its own last step) passes them to
    `save_step`, which then reads nothing back: `expected_rev` proves they are
    still current, since every change of these rows bumps `rev`.
    """

    rev: int
    answers: tuple[AnswerLike, ...]  # current (not superseded), by seq
    seqs: tuple[int, ...]  # their seq numbers
    last_seq: int  # the highest seq stored, superseded ones included; 0: none
    signals: tuple[SignalLike, ...]  # in order

    @classmethod
    def of(cls, record: InterviewRecord) -> StoredRows:
        answers = record.answers
        last = (
            record.last_seq
            if record.last_seq is not None
            else max((a.seq for a in answers), default=0)
        )
        return cls(
            record.interview.rev,
            tuple(answers),
            tuple(a.seq for a in answers),
            last,
            tuple(record.signals),
        )


@dataclass
class StepSaved:
    interview: Interview
    kept: list[AnswerLike]  # current answers the step left as they were, by seq
    superseded: list[AnswerLike]  # current answers the step superseded (Back, a correction)
    stored: StoredRows  # the rows after the step, for the caller's next step
    answer_rows: list[dict[str, Any]]  # the rows inserted
    signal_rows: list[dict[str, Any]]

    # Made on demand: building ORM objects costs more than the INSERT did.
    @cached_property
    def appended(self) -> list[Answer]:
        """The new answer rows (not attached to the session)."""
        return [Answer(**row) for row in self.answer_rows]

    @cached_property
    def signals_added(self) -> list[Signal]:
        return [Signal(**row) for row in self.signal_rows]

    @cached_property
    def answers(self) -> list[AnswerLike]:
        """Current answers after the step, by seq."""
        return [*self.kept, *self.appended]


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
    # Superseded rows too (few: only Back and corrections make them), for last_seq.
    rows = (
        await session.exec(
            select(Answer).where(col(Answer.interview_id) == interview.id).order_by(col(Answer.seq))
        )
    ).all()
    signals = await session.exec(
        select(Signal).where(col(Signal.interview_id) == interview.id).order_by(col(Signal.id))
    )
    return InterviewRecord(
        interview,
        [a for a in rows if not a.superseded],
        list(signals.all()),
        rows[-1].seq if rows else 0,
    )


async def load_record(session: AsyncSession, interview: Interview) -> InterviewRecord:
    """The answers and signals of an interview row already loaded."""
    return await _record(session, interview)


async def get_active_interview_row(session: AsyncSession, lead_id: int) -> Interview | None:
    """The lead's active interview, without its answers and signals."""
    return await _active_interview(session, lead_id)


async def get_lead_and_active_interview(
    session: AsyncSession, telegram_id: int
) -> tuple[Lead, Interview | None] | None:
    """A Telegram user's lead and its active interview (if any), in one query; None
    when there is no such lead. The hot path of every update."""
    row = (await session.exec(_lead_and_active(), params={"p_telegram_id": telegram_id})).first()
    return None if row is None else (row[0], row[1])


async def get_lead_active_interview_relayed(
    session: AsyncSession, telegram_id: int
) -> tuple[Lead, Interview | None, bool] | None:
    """`get_lead_and_active_interview` plus: does a handoff of this lead relay the
    prospect's messages to sales now (RELAY_STATUSES, card sent)? Same one query
    (an EXISTS column), so a typed message needs no separate relay check."""
    row = (
        await session.exec(_lead_active_relayed(), params={"p_telegram_id": telegram_id})
    ).first()
    return None if row is None else (row[0], row[1], bool(row[2]))


@lru_cache(maxsize=1)
def _lead_active_relayed() -> Any:
    other = aliased(Interview)
    relayed = (
        sa_select(col(Handoff.id))
        .join(other, col(other.id) == col(Handoff.interview_id))
        .where(
            col(other.lead_id) == col(Lead.id),
            # OR of plain binds, not IN: an IN list is an "expanding" parameter that
            # SQLAlchemy re-renders on every execution of this hot statement.
            or_(*(col(Handoff.status) == status for status in RELAY_STATUSES)),
            col(Handoff.message_id).is_not(None),
        )
        .exists()
    )
    return (
        select(Lead, Interview, relayed)
        .outerjoin(
            Interview,
            and_(col(Interview.lead_id) == col(Lead.id), col(Interview.status) == "active"),
        )
        .where(col(Lead.telegram_id) == bindparam("p_telegram_id"))
        .execution_options(populate_existing=True)
    )


@lru_cache(maxsize=1)
def _lead_and_active() -> Any:
    # Built once: runs on every update (see _step_update).
    return (
        select(Lead, Interview)
        .outerjoin(
            Interview,
            and_(col(Interview.lead_id) == col(Lead.id), col(Interview.status) == "active"),
        )
        .where(col(Lead.telegram_id) == bindparam("p_telegram_id"))
        .execution_options(populate_existing=True)
    )


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
    stored: StoredRows | None = None,
    last_message_id: int | None = KEEP_MESSAGE_ID,
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
    another process raises StaleInterviewError instead of being overwritten;
    with `stored` at that same rev too, the rows are not read again (the
    interview's hot path: the UPDATE and the INSERTs are all that run).
    `last_message_id` (the question message to edit next; None clears it) is
    written along unless left at KEEP_MESSAGE_ID.
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
    }
    if last_message_id != KEEP_MESSAGE_ID:
        values["last_message_id"] = last_message_id
    ending = progress.status in ENDED_STATUSES
    stmt = _step_update(tuple(values), expected_rev is not None, ending)
    params = {f"v_{name}": value for name, value in values.items()}
    params["v_id"] = interview_id
    if expected_rev is not None:
        params["v_expected_rev"] = expected_rev
    if ending:
        params["v_finished_at"] = at
    # Write first (see storage/sql.py): this also locks the interview for the rest.
    result = await session.exec(stmt, params=params)
    if result.rowcount == 0:
        if await session.get(Interview, interview_id) is None:
            raise LookupError(f"no interview {interview_id}")
        raise StaleInterviewError(f"interview {interview_id} is not at rev {expected_rev}")

    if stored is None or expected_rev is None or stored.rev != expected_rev:
        stored = await _stored_rows(session, interview_id, -1)
    current = stored.answers
    keep = 0
    while (
        keep < len(current)
        and keep < len(answers)
        and _answer_key(current[keep]) == _answer_key(answers[keep])
    ):
        keep += 1
    superseded = list(current[keep:])
    if superseded:
        # Current rows past the kept prefix; seq grows with the interview's order.
        after = stored.seqs[keep - 1] if keep else 0
        await session.exec(
            update(Answer)
            .where(
                col(Answer.interview_id) == interview_id,
                col(Answer.superseded).is_(False),
                col(Answer.seq) > after,
            )
            .values(superseded=True)
            .execution_options(synchronize_session=False)
        )
    next_seq = stored.last_seq + 1
    rows = [
        {
            "interview_id": interview_id,
            "seq": next_seq + offset,
            "question_id": a.question_id,
            "parameter": a.parameter,
            "raw": a.raw,
            "option_ids": join_option_ids(list(a.option_ids)),
            "value": a.value,
            "points": a.points,
            "unknown": a.unknown,
            "reason": a.reason,
            "superseded": False,
            "created_at": at,
        }
        for offset, a in enumerate(answers[keep:])
    ]
    if rows:  # Core inserts: no ORM unit of work on the hot path
        await session.exec(_INSERT_ANSWER, params=rows)
    new_signals = [
        {
            "interview_id": interview_id,
            "kind": s.kind,
            "name": s.name,
            "points": s.points,
            "raw": s.raw,
            "created_at": at,
        }
        for s in signals[len(stored.signals) :]
    ]
    if new_signals:
        await session.exec(_INSERT_SIGNAL, params=new_signals)

    interview = session.sync_session.identity_map.get(
        session.sync_session.identity_key(Interview, interview_id)  # type: ignore[arg-type]
    )
    fresh = isinstance(interview, Interview) and interview.rev == expected_rev
    if expected_rev is not None and fresh:
        assert isinstance(interview, Interview)
        # The row is exactly what we read plus `values`: no need to read it back.
        for name, value in values.items():
            set_committed_value(interview, name, value)
        set_committed_value(interview, "rev", expected_rev + 1)
        if ending and interview.finished_at is None:
            set_committed_value(interview, "finished_at", at)
    else:
        interview = await session.get(Interview, interview_id, populate_existing=True)
        assert interview is not None
    after_rows = StoredRows(
        interview.rev,
        (*current[:keep], *answers[keep:]),
        (*stored.seqs[:keep], *(r["seq"] for r in rows)),
        next_seq + len(rows) - 1,
        (*stored.signals, *signals[len(stored.signals) :]),
    )
    return StepSaved(interview, list(current[:keep]), superseded, after_rows, rows, new_signals)


@lru_cache(maxsize=32)
def _step_update(names: tuple[str, ...], check_rev: bool, ending: bool) -> Any:
    """save_step's UPDATE, built once per shape (it runs on every answer, and building a
    statement costs more than running it); the values come as `v_<column>` parameters."""
    values: dict[str, Any] = {name: bindparam(f"v_{name}") for name in names}
    values["rev"] = _IV.c.rev + 1
    if ending:
        # (Not updated_at: on the right of SET a column is its old value.)
        values["finished_at"] = func.coalesce(
            _IV.c.finished_at, bindparam("v_finished_at", type_=UTCDateTime())
        )
    stmt = update(_IV).where(_IV.c.id == bindparam("v_id"))
    if check_rev:
        stmt = stmt.where(_IV.c.rev == bindparam("v_expected_rev"))
    return stmt.values(values)


async def _stored_rows(session: AsyncSession, interview_id: int, rev: int) -> StoredRows:
    """Read an interview's answer and signal rows (after its UPDATE: locked, current)."""
    stored = (
        await session.exec(
            select(Answer)
            .where(col(Answer.interview_id) == interview_id)
            .order_by(col(Answer.seq))
            .execution_options(populate_existing=True)
        )
    ).all()
    current = [a for a in stored if not a.superseded]
    signals = (
        await session.exec(
            select(Signal).where(col(Signal.interview_id) == interview_id).order_by(col(Signal.id))
        )
    ).all()
    return StoredRows(
        rev,
        tuple(current),
        tuple(a.seq for a in current),
        stored[-1].seq if stored else 0,
        tuple(signals),
    )


async def note_message_ids(session: AsyncSession, notes: Sequence[tuple[int, int, int]]) -> None:
    """Record question message ids, `(interview_id, rev, message_id)`, in one statement.

    Each applies only while the interview is still at that rev (a later step
    made the message stale) and, on PostgreSQL, only if nobody holds the row
    (SKIP LOCKED: whoever does is stepping it, which makes the note stale too),
    so writing notes inside another interview's transaction never waits or
    deadlocks. rev is not bumped: the message id is not part of the state.
    """
    if not notes:
        return
    await session.exec(
        _NOTE_UPDATE, params=[{"iv_id": i, "iv_rev": r, "message_id": m} for i, r, m in notes]
    )


# A Core (not ORM) statement, built once: a plain executemany, one row per note.
_NOTE_UPDATE = (
    update(_IV)
    .where(
        _IV.c.id
        == sa_select(_IV.c.id)
        .where(_IV.c.id == bindparam("iv_id"), _IV.c.rev == bindparam("iv_rev"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    .values(last_message_id=bindparam("message_id"))
)


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
