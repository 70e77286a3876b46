"""Between storage rows and the engine's state: the interview row IS the state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.repositories import InterviewProgress, InterviewRecord
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


def state_from_record(record: InterviewRecord, lead: Lead) -> InterviewState:
    from flows.state import AnswerRecord, InterviewState, SignalRecord

    iv = record.interview
    facts = tuple(
        sorted((k, v.strip()) for k, v in known_facts(lead).items() if v is not None and v.strip())
    )
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
