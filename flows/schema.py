"""Pydantic models of a flow file, and the checks that need the whole flow.

A flow file is data written by a marketer. Everything here is about refusing a
bad file with a reason that person understands: which key, which line, what to
change. Shape errors come from pydantic (mapped to lines by `flows.loader`);
errors that need the whole flow (a transition to nowhere, a question no path
reaches, points outside a parameter's range, a missing translation, a template
reaching for internals) come from `semantic_problems`, which returns the path
of the offending key so the loader can name its line.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    WithJsonSchema,
)

from flows.conditions import Cond, parse_condition, walk_condition

# --------------------------------------------------------------------------- errors


class FlowError(Exception):
    """A flow file refused: `file:line: reason`.

    `problems` holds every problem found (this error is the first of them).
    """

    def __init__(
        self, file: str, line: int, reason: str, problems: list[FlowError] | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        self.problems: list[FlowError] = problems if problems is not None else [self]
        super().__init__(f"{file}:{line}: {reason}")

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


# --------------------------------------------------------------------------- vocabulary

KINDS = (
    "single",
    "multi",
    "number",
    "timeline",
    "text",
    "yesno",
    "phone",
    "email",
    "company",
    "name",
)
CHOICE_KINDS = frozenset({"single", "multi", "yesno"})
CONTACT_KINDS = frozenset({"phone", "email", "company", "name"})
SCORED_KINDS = frozenset({"single", "multi", "number", "timeline", "text", "yesno"})
TIERS = ("hot", "warm", "cold")
END_STATES = ("done", "out")
#: names a `score:` condition may use besides parameter ids
SCORE_NAMES = ("fit", "engagement", "total", "percent")
#: text keys a flow may define under `texts:` (reask is required)
TEXT_KEYS = (
    "welcome",
    "reask",
    "reask_number",
    "reask_timeline",
    "reask_yesno",
    "reask_phone",
    "reask_email",
    "reask_multi",
)

Ident = Annotated[
    str,
    Field(pattern=r"^[a-z][a-z0-9_]{0,31}$"),
]
LangCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[a-z0-9]{2,8})?$")]


def _textify(value: Any) -> Any:
    """YAML turns `5` into a number; a typed text or a label wants it as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def _textify_list(value: Any) -> Any:
    if isinstance(value, list):
        return [_textify(v) for v in value]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return [_textify(value)]  # one phrase written without a list
    return value


def _textify_map(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _textify(v) for k, v in value.items()}
    return value


def _textify_list_map(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _textify_list(v) for k, v in value.items()}
    return value


Text = Annotated[str, BeforeValidator(_textify)]
#: a text in every language of the flow: `{en: "...", ru: "..."}`
LangText = Annotated[dict[str, Text], BeforeValidator(_textify_map)]
#: phrases per language: `{en: [a, b], ru: [c]}`
LangList = Annotated[dict[str, list[Text]], BeforeValidator(_textify_list_map)]


def _condition(value: Any) -> Cond:
    return parse_condition(value)


Condition = Annotated[
    Cond,
    PlainValidator(_condition),
    WithJsonSchema({"type": "object"}),
]


def _next_list(value: Any) -> Any:
    if isinstance(value, str):
        return [{"to": value}]
    return value


def _answers(value: Any) -> Any:
    """An example's answers: a list typed in order, or question id -> text or list."""
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict | list) or item is None:
                raise ValueError("each answer in the list must be the text the prospect types")
            out.append(_textify(item))
        return tuple(out)
    if isinstance(value, dict):
        res: dict[str, tuple[str, ...]] = {}
        for key, item in value.items():
            if isinstance(item, list):
                if not item or any(isinstance(x, dict | list) or x is None for x in item):
                    raise ValueError(f"answers for '{key}' must be texts the prospect types")
                res[key] = tuple(_textify(x) for x in item)
            elif isinstance(item, dict) or item is None:
                raise ValueError(f"the answer to '{key}' must be the text the prospect types")
            else:
                res[key] = (_textify(item),)
        return res
    raise ValueError("answers must be a list of typed texts, or question id: typed text lines")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        arbitrary_types_allowed=True,
        hide_input_in_errors=True,
    )


# --------------------------------------------------------------------------- parts


class Parameter(_Model):
    id: Ident
    name: LangText
    max: int = Field(gt=0, le=1000)
    min: int = Field(default=0, ge=-1000, le=0)
    weak_below: int | None = None
    next_action: LangText

    @property
    def weak_threshold(self) -> int:
        return self.weak_below if self.weak_below is not None else (self.max + 1) // 2


class ScoreRange(_Model):
    min: int = Field(default=-100, ge=-10000, le=0)
    max: int = Field(default=100, ge=0, le=10000)
    name: LangText | None = None


class Thresholds(_Model):
    hot: float = Field(default=80, gt=0, le=100)
    warm: float = Field(default=40, ge=0, le=100)


class Cap(_Model):
    when: Condition
    at_most: Literal["hot", "warm", "cold"] | None = None
    at_least: Literal["hot", "warm", "cold"] | None = None
    reason: LangText | None = None


class WorkingHours(_Model):
    """When the sales team works: SLA minutes are counted inside these hours only."""

    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])  # ISO weekdays, 1 = Monday
    start: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
    utc_offset: str = Field(default="+00:00", pattern=r"^[+-]([01]\d|2[0-3]):[0-5]\d$")


class FollowUp(_Model):
    """Optional follow-up timers (the bot's defaults apply to whatever is left out)."""

    sla_minutes: int = Field(default=15, ge=1, le=10080)  # an untaken hot card is raised again
    working_hours: WorkingHours | None = None  # count sla_minutes in working hours only
    reminder_hours: float = Field(default=24, gt=0, le=720)  # one reminder to an idle prospect
    nurture_hours: float = Field(default=24, gt=0, le=2160)  # warm leads' nurture message
    nurture: LangText | None = None  # the nurture message (none: warm leads get nothing)
    nurture_url: str | None = Field(default=None, max_length=500)  # sent when it is pressed


class KnockOut(_Model):
    reason: Ident
    offer: LangText


class Option(_Model):
    id: Ident
    label: LangText
    synonyms: LangList = Field(default_factory=dict)
    points: int = 0
    knockout: KnockOut | None = None


class Band(_Model):
    """One step of a number's `ranges:` or a timeline's `bands:`."""

    up_to: float | None = None
    points: int = 0
    label: LangText | None = None
    knockout: KnockOut | None = None


class TextRule(_Model):
    id: Ident | None = None
    keywords: LangList
    points: int = 0
    knockout: KnockOut | None = None


class Next(_Model):
    to: str
    when: Condition | None = None


class Question(_Model):
    id: Ident
    kind: Literal[
        "single",
        "multi",
        "number",
        "timeline",
        "text",
        "yesno",
        "phone",
        "email",
        "company",
        "name",
    ]
    parameter: str | None = None
    text: LangText
    options: list[Option] = Field(default_factory=list)
    ranges: list[Band] = Field(default_factory=list)
    bands: list[Band] = Field(default_factory=list)
    rules: list[TextRule] = Field(default_factory=list)
    scoring: Literal["sum", "first"] = "sum"
    otherwise: int = 0
    next: Annotated[list[Next], BeforeValidator(_next_list)] = Field(default_factory=list)
    skip_if: Condition | None = None
    skippable: bool = True
    reask: LangText | None = None
    region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class Intent(_Model):
    id: Ident
    phrases: LangList
    points: int = 0
    fast_track: bool = False
    ends: bool = False
    say: LangText | None = None


class EngagementEvent(_Model):
    id: Ident
    points: int = 0
    once: bool = True
    fast_track: bool = False
    ends: bool = False
    label: LangText | None = None


class Closing(_Model):
    hot: LangText
    warm: LangText
    cold: LangText
    disqualified: LangText


class Expect(_Model):
    total: int | None = None
    max_total: int | None = None
    percent: float | None = None
    tier: Literal["hot", "warm", "cold", "disqualified"] | None = None
    stage: str | None = None
    unknowns: list[str] | None = None
    points: dict[str, int] | None = None
    knockout: str | None = None
    fit: int | None = None
    engagement: int | None = None
    fast_tracked: bool | None = None
    finished: bool | None = None
    asked: list[str] | None = None
    not_asked: list[str] | None = None


class Example(_Model):
    name: str
    lang: str
    today: _dt.date | None = None
    known: dict[str, Text] = Field(default_factory=dict)
    answers: Annotated[Any, BeforeValidator(_answers)]
    events: list[str] = Field(default_factory=list)
    expect: Expect


class FlowDef(_Model):
    id: Ident
    framework: str = Field(min_length=1, max_length=40)
    version: int | None = None
    languages: list[LangCode] = Field(min_length=1)
    title: LangText
    description: LangText | None = None
    thresholds: Thresholds = Field(default_factory=Thresholds)
    parameters: list[Parameter] = Field(min_length=1)
    fit: ScoreRange | None = None
    engagement: ScoreRange = Field(default_factory=ScoreRange)
    caps: list[Cap] = Field(default_factory=list)
    phone_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    questions: list[Question] = Field(min_length=1)
    intents: list[Intent] = Field(default_factory=list)
    events: list[EngagementEvent] = Field(default_factory=list)
    strings: dict[Ident, LangText] = Field(default_factory=dict)
    texts: dict[str, LangText]
    closing: Closing
    examples: list[Example] = Field(default_factory=list)
    followup: FollowUp | None = None

    _file: str = PrivateAttr(default="<flow>")
    _digest: str | None = PrivateAttr(default=None)
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)
    _source: str | None = PrivateAttr(default=None)

    # -- identity ---------------------------------------------------------------
    @property
    def file(self) -> str:
        return self._file

    @property
    def source(self) -> str | None:
        """The YAML text this flow was loaded from (None when built in code)."""
        return self._source

    @property
    def digest(self) -> str:
        """sha256 of the source text: identifies a flow version."""
        if self._digest is None:
            self._digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self._digest

    def line_of(self, path: tuple[Any, ...]) -> int:
        """The line of the closest key to `path` in the source (1 when unknown)."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), 1)

    # -- lookups ------------------------------------------------------------------
    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def parameter(self, pid: str) -> Parameter:
        for p in self.parameters:
            if p.id == pid:
                return p
        raise KeyError(pid)

    @property
    def max_total(self) -> int:
        return sum(p.max for p in self.parameters)

    def fit_range(self) -> tuple[int, int]:
        """[min, max] of the fit score: declared under `fit:`, or what its questions allow."""
        if self.fit is not None:
            return self.fit.min, self.fit.max
        lo = hi = 0
        for q in self.questions:
            if q.parameter != "fit":
                continue
            pts = list(_question_points(q))
            if not pts:
                continue
            if q.kind == "multi" or (q.kind == "text" and q.scoring == "sum"):
                lo += sum(p for p in pts if p < 0)
                hi += sum(p for p in pts if p > 0)
            else:
                lo += min(0, *pts)
                hi += max(0, *pts)
        return lo, hi

    def engagement_range(self) -> tuple[int, int]:
        return self.engagement.min, self.engagement.max


def _question_points(q: Question) -> Iterator[int]:
    for o in q.options:
        yield o.points
    for b in q.ranges:
        yield b.points
    for b in q.bands:
        yield b.points
    for r in q.rules:
        yield r.points
    if q.kind == "text":
        yield q.otherwise


#: every key the schema knows, for "did you mean" suggestions
def all_keys() -> set[str]:
    keys: set[str] = set()
    for model in (
        FlowDef,
        Parameter,
        ScoreRange,
        Thresholds,
        Cap,
        KnockOut,
        Option,
        Band,
        TextRule,
        Next,
        Question,
        Intent,
        EngagementEvent,
        Closing,
        Expect,
        Example,
    ):
        keys.update(model.model_fields)
    keys.update(TEXT_KEYS)
    keys.update(
        ("answer", "is", "in", "above", "below", "known", "score", "signal", "all", "any", "not")
    )
    return keys


# --------------------------------------------------------------------------- semantic checks

Problem = tuple[tuple[Any, ...], str]


def semantic_problems(flow: FlowDef) -> list[Problem]:
    """Checks that need the whole flow. Returns (path, reason) pairs, in file order."""
    from flows.texts import template_problems  # local: texts imports jinja2

    out: list[Problem] = []
    add = out.append
    langs = list(flow.languages)
    lang_set = set(langs)

    if len(lang_set) != len(langs):
        add((("languages",), "a language is listed twice"))

    # -- translations ------------------------------------------------------------
    def need_text(path: tuple[Any, ...], value: dict[str, str] | None, what: str) -> None:
        if value is None:
            return
        for lang in langs:
            if lang not in value or not str(value[lang]).strip():
                add((path, f"{what} has no {lang} text (missing translation)"))
        for lang in value:
            if lang not in lang_set:
                add(
                    (
                        (*path, lang),
                        f"{what} has text in '{lang}', which is not in languages "
                        f"({', '.join(langs)}); add it there or remove this text",
                    )
                )

    def need_lists(
        path: tuple[Any, ...], value: dict[str, list[str]], what: str, *, all_langs: bool
    ) -> None:
        for lang, items in value.items():
            if lang not in lang_set:
                add(
                    (
                        (*path, lang),
                        f"{what} in '{lang}', which is not in languages ({', '.join(langs)})",
                    )
                )
            for i, item in enumerate(items):
                if not str(item).strip():
                    add(((*path, lang, i), f"{what}: an empty phrase matches nothing"))
        if all_langs:
            for lang in langs:
                if not value.get(lang):
                    add((path, f"{what} has no {lang} phrases (missing translation)"))

    need_text(("title",), flow.title, "title")
    need_text(("description",), flow.description, "description")
    for name, value in flow.strings.items():
        need_text(("strings", name), value, f"string '{name}'")
    if "reask" not in flow.texts:
        add(
            (
                ("texts",),
                "texts needs 'reask': the short line used when an answer was not understood",
            )
        )
    for key, value in flow.texts.items():
        if key not in TEXT_KEYS:
            add((("texts", key), f"unknown text '{key}' (known: {', '.join(TEXT_KEYS)})"))
        need_text(("texts", key), value, f"texts.{key}")
    for tier in ("hot", "warm", "cold", "disqualified"):
        need_text(("closing", tier), getattr(flow.closing, tier), f"closing.{tier}")
    if flow.followup is not None:
        need_text(("followup", "nurture"), flow.followup.nurture, "followup.nurture")
        hours = flow.followup.working_hours
        if hours is not None:
            if not hours.days or any(d < 1 or d > 7 for d in hours.days):
                add((("followup", "working_hours", "days"), "days are 1 (Monday) to 7 (Sunday)"))
            if hours.end <= hours.start:
                add((("followup", "working_hours", "end"), "end must be after start"))

    # -- thresholds, parameters ---------------------------------------------------
    if flow.thresholds.warm > flow.thresholds.hot:
        add((("thresholds", "warm"), "warm must not be above hot"))
    pids: dict[str, int] = {}
    for i, p in enumerate(flow.parameters):
        path = ("parameters", i)
        if p.id in pids:
            add(((*path, "id"), f"parameter '{p.id}' is listed twice"))
        if p.id in SCORE_NAMES:
            add(((*path, "id"), f"'{p.id}' is reserved; name the parameter differently"))
        pids[p.id] = i
        need_text((*path, "name"), p.name, f"parameter '{p.id}' name")
        need_text((*path, "next_action"), p.next_action, f"parameter '{p.id}' next_action")
        if p.weak_below is not None and not (p.min < p.weak_below <= p.max):
            add(
                (
                    (*path, "weak_below"),
                    f"weak_below must be above min ({p.min}) and at most max ({p.max})",
                )
            )
    if flow.fit is not None:
        need_text(("fit", "name"), flow.fit.name, "fit name")
    need_text(("engagement", "name"), flow.engagement.name, "engagement name")

    # -- questions ----------------------------------------------------------------
    qindex: dict[str, int] = {}
    for i, q in enumerate(flow.questions):
        if q.id in qindex:
            add((("questions", i, "id"), f"question '{q.id}' is listed twice"))
        elif q.id in END_STATES:
            add((("questions", i, "id"), f"'{q.id}' is reserved for the end of the interview"))
        else:
            qindex[q.id] = i
    intents = {it.id for it in flow.intents}
    events = {ev.id for ev in flow.events}
    signals = intents | events
    if len(intents) != len(flow.intents):
        add((("intents",), "an intent id is listed twice"))
    if len(events) != len(flow.events):
        add((("events",), "an event id is listed twice"))
    if intents & events:
        add((("events",), f"'{sorted(intents & events)[0]}' is both an intent and an event"))

    fit_lo, fit_hi = (flow.fit.min, flow.fit.max) if flow.fit is not None else (None, None)

    def points_range(param: str | None) -> tuple[int, int] | None:
        if param is None:
            return None
        if param == "fit":
            return (fit_lo, fit_hi) if fit_lo is not None else None
        if param in pids:
            p = flow.parameters[pids[param]]
            return p.min, p.max
        return None

    def check_points(path: tuple[Any, ...], q: Question, pts: int) -> None:
        if q.parameter is None:
            if pts:
                add(
                    (
                        path,
                        f"question '{q.id}' counts for no parameter, so its points do nothing; "
                        "add `parameter:` or remove the points",
                    )
                )
            return
        rng = points_range(q.parameter)
        if rng is not None and not (rng[0] <= pts <= rng[1]):
            name = "fit" if q.parameter == "fit" else f"parameter '{q.parameter}'"
            add((path, f"points {pts} are outside the range of {name} ({rng[0]}..{rng[1]})"))

    def check_knockout(path: tuple[Any, ...], ko: KnockOut | None, what: str) -> None:
        if ko is not None:
            need_text((*path, "knockout", "offer"), ko.offer, f"{what} knock-out offer")

    for i, q in enumerate(flow.questions):
        qp = ("questions", i)
        need_text((*qp, "text"), q.text, f"question '{q.id}' text")
        need_text((*qp, "reask"), q.reask, f"question '{q.id}' reask")
        if q.kind in CONTACT_KINDS:
            if q.parameter is not None:
                add(
                    (
                        (*qp, "parameter"),
                        f"a {q.kind} question is contact capture and counts for no parameter",
                    )
                )
        elif q.parameter is not None and q.parameter != "fit" and q.parameter not in pids:
            add(
                (
                    (*qp, "parameter"),
                    f"question '{q.id}' counts for '{q.parameter}', which is not a parameter "
                    f"(parameters: {', '.join(pids) or 'none'}, or fit)",
                )
            )
        # which lists belong to which kind
        wrong = []
        if q.options and q.kind not in CHOICE_KINDS:
            wrong.append("options")
        if q.ranges and q.kind != "number":
            wrong.append("ranges")
        if q.bands and q.kind != "timeline":
            wrong.append("bands")
        if q.rules and q.kind != "text":
            wrong.append("rules")
        for key in wrong:
            hint = {
                "options": "single, multi or yesno",
                "ranges": "number",
                "bands": "timeline",
                "rules": "text",
            }[key]
            add(((*qp, key), f"'{key}' is for {hint} questions; question '{q.id}' is {q.kind}"))
        if q.kind in ("single", "multi") and len(q.options) < 2:
            add(((*qp, "options"), f"question '{q.id}' needs at least two options"))
        if q.kind == "yesno" and sorted(o.id for o in q.options) != ["no", "yes"]:
            add(
                (
                    (*qp, "options"),
                    f"yes/no question '{q.id}' needs exactly two options: id yes and id no",
                )
            )
        if q.kind == "number" and not q.ranges:
            add(((*qp, "kind"), f"number question '{q.id}' needs `ranges:` (up_to and points)"))
        if q.kind == "timeline" and not q.bands:
            add(
                (
                    (*qp, "kind"),
                    f"timeline question '{q.id}' needs `bands:` (up_to days and points)",
                )
            )
        if q.region is not None and q.kind != "phone":
            add(((*qp, "region"), "region is for phone questions"))
        opt_ids: set[str] = set()
        for j, o in enumerate(q.options):
            op = (*qp, "options", j)
            if o.id in opt_ids:
                add(((*op, "id"), f"option '{o.id}' is listed twice in question '{q.id}'"))
            opt_ids.add(o.id)
            need_text((*op, "label"), o.label, f"option '{o.id}' label")
            need_lists((*op, "synonyms"), o.synonyms, f"option '{o.id}' synonyms", all_langs=False)
            check_points((*op, "points"), q, o.points)
            check_knockout(op, o.knockout, f"option '{o.id}'")
        for key in ("ranges", "bands"):
            steps: list[Band] = getattr(q, key)
            last = None
            for j, b in enumerate(steps):
                bp = (*qp, key, j)
                check_points((*bp, "points"), q, b.points)
                need_text((*bp, "label"), b.label, f"{key} label")
                check_knockout(bp, b.knockout, f"{key[:-1]}")
                if b.up_to is None and j != len(steps) - 1:
                    add((bp, f"only the last of the {key} may leave out up_to"))
                if b.up_to is not None and last is not None and b.up_to <= last:
                    add(((*bp, "up_to"), f"{key} must go up: {b.up_to:g} is not above {last:g}"))
                if b.up_to is not None:
                    last = b.up_to
            if steps and steps[-1].up_to is not None:
                add(
                    (
                        (*qp, key, len(steps) - 1),
                        f"the last of the {key} needs no up_to, so that every value has a place",
                    )
                )
        rule_ids: set[str] = set()
        for j, r in enumerate(q.rules):
            rp = (*qp, "rules", j)
            if r.id is not None:
                if r.id in rule_ids:
                    add(((*rp, "id"), f"rule '{r.id}' is listed twice"))
                rule_ids.add(r.id)
            need_lists((*rp, "keywords"), r.keywords, "rule keywords", all_langs=True)
            check_points((*rp, "points"), q, r.points)
            check_knockout(rp, r.knockout, "rule")
        if q.kind == "text":
            check_points((*qp, "otherwise"), q, q.otherwise)
        elif "otherwise" in q.model_fields_set:
            add(((*qp, "otherwise"), "otherwise is for text questions"))
        if "scoring" in q.model_fields_set and q.kind != "text":
            add(((*qp, "scoring"), "scoring is for text questions"))

    # -- conditions ---------------------------------------------------------------
    def check_cond(path: tuple[Any, ...], cond: Cond, before: int, *, allow_self: bool) -> None:
        for node in walk_condition(cond):
            kind = node.op
            if node.question is not None:
                qid = node.question
                if qid not in qindex:
                    add((path, f"the condition names question '{qid}', which does not exist"))
                    continue
                qi = qindex[qid]
                if qi > before or (qi == before and not allow_self):
                    add(
                        (
                            path,
                            f"the condition reads the answer to '{qid}', which is not asked "
                            "before this point",
                        )
                    )
                tq = flow.questions[qi]
                if kind in ("is", "in"):
                    valid = {o.id for o in tq.options} | {r.id for r in tq.rules if r.id}
                    for v in node.values:
                        if v not in valid:
                            add(
                                (
                                    path,
                                    f"question '{qid}' has no option '{v}'"
                                    + (f" (it has: {', '.join(sorted(valid))})" if valid else ""),
                                )
                            )
                    if tq.kind not in CHOICE_KINDS and tq.kind != "text":
                        add(
                            (
                                path,
                                f"'is'/'in' need a choice or text question; '{qid}' is {tq.kind}",
                            )
                        )
                if kind in ("above", "below") and tq.kind in CONTACT_KINDS:
                    add((path, f"'{kind}' needs a scored question; '{qid}' is {tq.kind}"))
            if node.score is not None and node.score not in pids and node.score not in SCORE_NAMES:
                add(
                    (
                        path,
                        f"the condition reads score '{node.score}', which is neither a parameter "
                        f"nor one of {', '.join(SCORE_NAMES)}",
                    )
                )
            if node.signal is not None and node.signal not in signals:
                add(
                    (
                        path,
                        f"the condition waits for signal '{node.signal}', "
                        "which is no intent or event",
                    )
                )

    for i, q in enumerate(flow.questions):
        qp = ("questions", i)
        if q.skip_if is not None:
            check_cond((*qp, "skip_if"), q.skip_if, i, allow_self=False)
        conditional_only = bool(q.next) and all(n.when is not None for n in q.next)
        if conditional_only:
            add(
                (
                    (*qp, "next"),
                    f"question '{q.id}' has no way out when none of its conditions holds; "
                    "end `next:` with a `- to: ...` line that has no `when:`",
                )
            )
        seen_default = False
        for j, n in enumerate(q.next):
            np_ = (*qp, "next", j)
            if seen_default:
                add(
                    (
                        np_,
                        "this line is never used: the line above it has no `when:` "
                        "and always applies",
                    )
                )
            if n.when is None:
                seen_default = True
            else:
                check_cond((*np_, "when"), n.when, i, allow_self=True)
            if n.to == "done":
                continue
            if n.to == "out":
                add(
                    (
                        (*np_, "to"),
                        "knock-outs are set on options, ranges or rules, not with `to: out`",
                    )
                )
                continue
            if n.to not in qindex:
                add(((*np_, "to"), f"`to: {n.to}` leads nowhere: there is no question '{n.to}'"))
                continue
            if qindex[n.to] <= i:
                add(
                    (
                        (*np_, "to"),
                        f"`to: {n.to}` jumps back; `next` may only go forward, "
                        "so an interview can never loop",
                    )
                )
    for i, c in enumerate(flow.caps):
        cp = ("caps", i)
        need_text((*cp, "reason"), c.reason, "cap reason")
        if (c.at_most is None) == (c.at_least is None):
            add((cp, "a cap needs either at_most or at_least"))
        check_cond((*cp, "when"), c.when, len(flow.questions), allow_self=True)

    # -- reachability -------------------------------------------------------------
    if not any(p[1].startswith("question '") and "listed twice" in p[1] for p in out):
        reached = {0}
        for i, q in enumerate(flow.questions):
            if i not in reached:
                continue
            targets = [n.to for n in q.next] if q.next else None
            if targets is None:
                if i + 1 < len(flow.questions):
                    reached.add(i + 1)
            else:
                for t in targets:
                    if t in qindex and qindex[t] > i:
                        reached.add(qindex[t])
        for i, q in enumerate(flow.questions):
            if i not in reached:
                add(
                    (
                        ("questions", i, "id"),
                        f"question '{q.id}' is never asked: "
                        "no path through the interview reaches it",
                    )
                )

    # -- intents, events -----------------------------------------------------------
    for i, it in enumerate(flow.intents):
        ip = ("intents", i)
        if it.id in SCORE_NAMES:
            add(((*ip, "id"), f"'{it.id}' is reserved"))
        need_lists((*ip, "phrases"), it.phrases, f"intent '{it.id}' phrases", all_langs=True)
        need_text((*ip, "say"), it.say, f"intent '{it.id}' say")
    for i, ev in enumerate(flow.events):
        need_text(("events", i, "label"), ev.label, f"event '{ev.id}' label")
    lo, hi = flow.engagement_range()
    if lo > hi:
        add((("engagement",), "engagement min is above max"))
    if flow.fit is not None and flow.fit.min > flow.fit.max:
        add((("fit",), "fit min is above max"))

    # -- strings --------------------------------------------------------------------
    from flows.texts import RESERVED_NAMES

    for name in flow.strings:
        if name in RESERVED_NAMES:
            add(
                (
                    ("strings", name),
                    f"'{name}' is a built-in variable; name this string differently",
                )
            )

    # -- templates ------------------------------------------------------------------
    out.extend(template_problems(flow))

    # -- examples -------------------------------------------------------------------
    for i, ex in enumerate(flow.examples):
        ep = ("examples", i)
        if ex.lang not in lang_set:
            add(
                (
                    (*ep, "lang"),
                    f"example language '{ex.lang}' is not in languages ({', '.join(langs)})",
                )
            )
        for key in ex.known:
            if key not in ("name", "phone", "email", "company"):
                add(
                    (
                        (*ep, "known", key),
                        f"known may hold name, phone, email, company; not '{key}'",
                    )
                )
        if isinstance(ex.answers, dict):
            for qid in ex.answers:
                if qid not in qindex:
                    add(
                        (
                            (*ep, "answers", qid),
                            f"the example answers '{qid}', which is no question",
                        )
                    )
        for j, name in enumerate(ex.events):
            if name not in events:
                add(((*ep, "events", j), f"'{name}' is no event of this flow"))
        exp = ex.expect
        for key in ("points",):
            for pid in exp.points or {}:
                if pid not in pids:
                    add(((*ep, "expect", key, pid), f"'{pid}' is not a parameter"))
        for pid in exp.unknowns or []:
            if pid not in pids:
                add(((*ep, "expect", "unknowns"), f"'{pid}' is not a parameter"))
        for key in ("asked", "not_asked"):
            for qid in getattr(exp, key) or []:
                if qid not in qindex:
                    add(((*ep, "expect", key), f"'{qid}' is no question"))
    return out
