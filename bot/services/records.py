"""Between storage rows and the engine's state: the interview row IS the state."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from storage.repositories import InterviewProgress, InterviewRecord, StoredRows
from storage.tables import Interview, Lead

if TYPE_CHECKING:
    from flows.scoring import Result
    from flows.state import InterviewState

ENDED = ("finished", "cancelled", "out")


def known_facts(lead: Lead) -> dict[str, str | None]:
    """Facts known before the interview (the Telegram profile), so it skips those questions.

    Only the first name: it is set when the lead is created and never changes
    afterwards, so rebuilding a state later gives the same interview path.
    """
    return {"name": lead.first_name}


def _known(lead: Lead) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((k, v.strip()) for k, v in known_facts(lead).items() if v is not None and v.strip())
    )


def state_from_stored(iv: Interview, stored: StoredRows, lead: Lead) -> InterviewState:
    """The engine's state from the interview row and rows kept from the last step
    (`stored.answers` and `.signals` are the engine's own records there)."""
    from flows.state import InterviewState

    return InterviewState(
        flow_id=iv.flow_id,
        lang=iv.lang,
        state=iv.state,
        answers=stored.answers,  # type: ignore[arg-type]
        signals=stored.signals,  # type: ignore[arg-type]
        misses=iv.misses,
        knockout=iv.knockout,
        fast_tracked=iv.fast_tracked,
        known=_known(lead),
    )


def stored_of(record: InterviewRecord, state: InterviewState) -> StoredRows:
    """`record`'s rows for save_step, holding the engine's records built from them."""
    rows = StoredRows.of(record)
    return StoredRows(rows.rev, state.answers, rows.seqs, rows.last_seq, state.signals)


class RowCache:
    """Answer and signal rows of recently stepped interviews, by interview id.

    An entry is used only while the interview row still has the entry's `rev`:
    every change of those rows (a step, in any process, or /forget) bumps it, so
    a hit is exactly what the database holds and a step reads just the
    interview row. Filled after commit only; bounded (least recently used go).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._rows: OrderedDict[int, StoredRows] = OrderedDict()

    def get(self, interview: Interview) -> StoredRows | None:
        if interview.id is None:
            return None
        rows = self._rows.get(interview.id)
        if rows is None or rows.rev != interview.rev:
            return None
        self._rows.move_to_end(interview.id)
        return rows

    def put(self, interview_id: int, rows: StoredRows) -> None:
        self._rows[interview_id] = rows
        self._rows.move_to_end(interview_id)
        if len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._rows)


def state_from_record(record: InterviewRecord, lead: Lead) -> InterviewState:
    from flows.state import AnswerRecord, InterviewState, SignalRecord

    iv = record.interview
    facts = _known(lead)
    return InterviewState(
        flow_id=iv.flow_id,
        lang=iv.lang,
        state=iv.state,
        answers=tuple(
            AnswerRecord(
                question_id=a.question_id,
                parameter=a.parameter,
                raw=a.raw,
                option_ids=a.options,
                value=a.value,
                points=a.points,
                unknown=a.unknown,
                reason=a.reason,
            )
            for a in record.answers
        ),
        signals=tuple(SignalRecord(s.kind, s.name, s.points, s.raw) for s in record.signals),
        misses=iv.misses,
        knockout=iv.knockout,
        fast_tracked=iv.fast_tracked,
        known=facts,
    )


def status_of(state: InterviewState, previous: str = "active") -> str:
    """The interview status after a step; an ended interview keeps its status."""
    if previous in ENDED:
        return previous
    if state.state == "out":
        return "out"
    if state.state == "done":
        return "finished"
    return "active"


def progress_of(
    state: InterviewState,
    result: Result,
    *,
    status: str,
    keep_stage: str | None,
    sales_owned: bool,
) -> InterviewProgress:
    """The interview row after a step.

    Tier and stage are set once the interview has an outcome (finished or knocked
    out, or hot by a fast-track signal); a half-done interview has scores but no tier yet, even
    when its percentage already reads hot: the card waits for the contacts. A
    stage that sales set (SAL, SQL, ...) is never overwritten by the bot.
    """
    # A cancelled interview (cancel, stop, blocked) has no outcome of its own, unless
    # an intent already made it hot; its scores are kept for the numbers.
    decided = status in ("finished", "out") or state.fast_tracked
    tier = result.tier if decided else None
    stage = result.stage if decided else None
    if sales_owned:
        stage = keep_stage
    return InterviewProgress(
        state=state.state,
        misses=state.misses,
        status=status,
        knockout=state.knockout,
        fast_tracked=state.fast_tracked,
        tier=tier,
        stage=stage,
        framework_score=result.total,
        max_score=result.max_total,
        percent=result.percent,
        fit_score=result.fit_score,
        engagement_score=result.engagement_score,
    )


def is_sales_owned(interview: Interview) -> bool:
    return interview.stage in ("SAL", "SQL")
