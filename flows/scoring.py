"""Scores and the result card: three scores kept apart, and why.

- framework score: per parameter, the sum of its answers' points clamped to
  [min, max]; total, max_total and percent of the framework maximum;
- fit score: answers to questions with `parameter: fit`, clamped to the fit range;
- engagement score: intent and event signals, clamped to the engagement range.

The tier comes from the framework percent against the flow's thresholds. Fit
and engagement move a lead only through rules the flow states: a knock-out
makes it disqualified, a fast-track signal makes it hot, then each cap
(`at_most` / `at_least` when its condition holds) is applied in file order.
Stage: hot and warm are MQL, cold has none, disqualified is "out".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from flows.engine import Ctx
from flows.state import AnswerRecord, InterviewState, positional_maker

if TYPE_CHECKING:
    from flows.engine import CompiledFlow

_RANK = {"cold": 0, "warm": 1, "hot": 2}
_BY_RANK = {v: k for k, v in _RANK.items()}
_STAGE = {"hot": "MQL", "warm": "MQL", "cold": None, "disqualified": "out"}


@dataclass(frozen=True)
class ParameterResult:
    id: str
    name: str
    points: int
    max: int
    min: int
    unknown: bool  # no answer gave this parameter a known value
    weak: bool  # known, and points below the parameter's weak threshold
    answers: tuple[AnswerRecord, ...]  # which answer earned which points
    next_action: str | None  # the flow's next action when weak or unknown


@dataclass(frozen=True)
class Result:
    flow_id: str
    framework: str
    lang: str
    total: int
    max_total: int
    percent: float  # of the framework maximum, one decimal
    tier: str  # hot | warm | cold | disqualified
    stage: str | None  # MQL (hot, warm) | None (cold) | "out" (disqualified)
    parameters: tuple[ParameterResult, ...]
    fit_score: int
    fit_reasons: tuple[tuple[str, int], ...]  # (question: answer, points)
    engagement_score: int
    engagement_reasons: tuple[tuple[str, int], ...]  # (intent/event, points)
    unknowns: tuple[str, ...]  # parameter ids to clarify on the call
    next_actions: tuple[tuple[str, str], ...]  # (parameter id, what to do)
    knockout: str | None  # knock-out reason code
    offer: str | None  # the knock-out's offer text
    fast_tracked: bool
    finished: bool
    contact: dict[str, str] = field(default_factory=dict)  # name, phone, email, company
    base_tier: str = "cold"  # the tier from the percent alone
    caps: tuple[str, ...] = ()  # reasons of the caps that changed the tier
    closing: str = ""  # the flow's closing text for this tier, rendered

    @property
    def points(self) -> dict[str, int]:
        return {p.id: p.points for p in self.parameters}

    def parameter(self, pid: str) -> ParameterResult:
        for p in self.parameters:
            if p.id == pid:
                return p
        raise KeyError(pid)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def explain(self) -> str:
        """The result as plain text lines, for the console and logs."""
        lines = [
            f"{self.framework}: {self.total}/{self.max_total} ({self.percent:g}%) — {self.tier}"
            + (f", {self.stage}" if self.stage else "")
        ]
        for p in self.parameters:
            mark = " (unknown)" if p.unknown else (" (weak)" if p.weak else "")
            lines.append(f"  {p.name}: {p.points}/{p.max}{mark}")
            for a in p.answers:
                why = a.reason or ("unknown" if a.unknown else "")
                lines.append(f"    {a.question_id}: {a.raw or '—'} → {a.points:+d} {why}".rstrip())
        lines.append(
            f"  fit: {self.fit_score:+d}" + "".join(f"; {r} {p:+d}" for r, p in self.fit_reasons)
        )
        lines.append(
            f"  engagement: {self.engagement_score:+d}"
            + "".join(f"; {r} {p:+d}" for r, p in self.engagement_reasons)
        )
        if self.fast_tracked:
            lines.append("  fast-tracked by an intent signal")
        for reason in self.caps:
            lines.append(f"  cap: {reason}")
        if self.knockout:
            lines.append(f"  knock-out: {self.knockout}")
        for pid, action in self.next_actions:
            lines.append(f"  next ({pid}): {action}")
        return "\n".join(lines)


_new_param = positional_maker(ParameterResult)
_new_result = positional_maker(Result)


def score(compiled: CompiledFlow, state: InterviewState) -> Result:
    flow = compiled.flow
    prog = compiled.program
    lang = state.lang
    # one pass: each parameter's answers, and the sum of its known ones
    by_param: dict[str, list[AnswerRecord]] = {}
    sums: dict[str, int] = {}
    for a in state.answers:
        pid = a.parameter
        if pid is None:
            continue
        recs = by_param.get(pid)
        if recs is None:
            by_param[pid] = [a]
        else:
            recs.append(a)
        if not a.unknown:
            sums[pid] = sums.get(pid, 0) + a.points

    params: list[ParameterResult] = []
    total = 0
    unknowns: list[str] = []
    actions: list[tuple[str, str]] = []
    scores: dict[str, float] = {}  # what running_scores would say: caps reuse it
    for p in prog.params:
        pid = p.id
        recs = by_param.get(pid, ())
        unknown = pid not in sums
        points = min(p.max, max(p.min, sums.get(pid, 0)))
        scores[pid] = points
        weak = not unknown and points < p.weak_threshold
        action = None
        if unknown or weak:
            action = compiled.render(p.next_action, state, {"points": points, "max": p.max})
            actions.append((p.id, action))
        if unknown:
            unknowns.append(p.id)
        total += points
        params.append(
            _new_param(
                p.id,
                p.name.get(lang, p.id),
                points,
                p.max,
                p.min,
                unknown,
                weak,
                tuple(recs),
                action,
            )
        )
    max_total = prog.max_total
    percent = round(total * 100 / max_total, 1) if max_total else 0.0

    fit_lo, fit_hi = prog.param_range["fit"]
    fit_recs = [a for a in by_param.get("fit", ()) if not a.unknown]
    fit_score = min(fit_hi, max(fit_lo, sums.get("fit", 0)))
    fit_reasons = tuple((f"{a.question_id}: {a.reason or a.raw or ''}", a.points) for a in fit_recs)

    eng_lo, eng_hi = prog.param_range["engagement"]
    engagement = min(eng_hi, max(eng_lo, sum(s.points for s in state.signals)))
    labels = prog.event_labels
    eng_reasons = []
    for s in state.signals:
        label = labels.get(s.name)
        name = label.get(lang, s.name) if label else s.name
        eng_reasons.append((f"{s.kind} {name}", s.points))

    th = flow.thresholds
    if total * 100 >= th.hot * max_total:
        base = "hot"
    elif total * 100 >= th.warm * max_total:
        base = "warm"
    else:
        base = "cold"
    applied: list[str] = []
    if state.knockout:
        tier = "disqualified"
    else:
        rank = _RANK[base]
        if state.fast_tracked:
            rank = _RANK["hot"]
        if prog.caps:
            scores.update(fit=fit_score, engagement=engagement, total=total, percent=percent)
            ctx = Ctx(prog, state.answers, state.signals, scores)
            for pred, at_most, at_least, reason in prog.caps:
                if not pred(ctx):
                    continue
                new = rank
                if at_most is not None:
                    new = min(rank, _RANK[at_most])
                if at_least is not None:
                    new = max(rank, _RANK[at_least])
                if new != rank:
                    if reason:
                        applied.append(reason.get(lang, ""))
                    else:
                        applied.append(f"at most {at_most}" if at_most else f"at least {at_least}")
                rank = new
        tier = _BY_RANK[rank]
    stage = _STAGE[tier]

    contact: dict[str, str] = dict(state.known)
    contact_of = prog.contact_of
    for a in state.answers:
        field_name = contact_of.get(a.question_id)
        if field_name is not None and a.value and not a.unknown:
            contact[field_name] = a.value

    offer = None
    if state.knockout:
        offer_text = prog.offers.get(state.knockout)
        if offer_text:
            offer = compiled.render(offer_text, state)
    closing = compiled.render(
        getattr(flow.closing, tier),
        state,
        {"tier": tier, "total": total, "max_total": max_total, "percent": percent},
    )
    return _new_result(
        flow.id,
        flow.framework,
        lang,
        total,
        max_total,
        percent,
        tier,
        stage,
        tuple(params),
        fit_score,
        fit_reasons,
        engagement,
        tuple(eng_reasons),
        tuple(unknowns),
        tuple(actions),
        state.knockout,
        offer,
        state.fast_tracked,
        state.state in ("done", "out"),
        contact,
        base,
        tuple(applied),
        closing,
    )
