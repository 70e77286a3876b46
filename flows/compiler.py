"""Compile a flow version once: a `transitions` machine plus per-question tables.

The machine has one state per question plus `done` and `out`, no auto
transitions (`to_<state>` triggers are quadratic in states) and no model: an
interview is stepped with `machine.events[name].trigger(cursor, ctx)` on a
throw-away cursor object, so no interview stays resident in the machine.
Events:

- `next`: from each question, its `next:` lines in order (conditions compiled
  from the file's declared vocabulary into our own callables), else the
  following question, else `done`;
- `knockout`: any question -> `out`;
- `finish`: any question -> `done` (an intent or event that ends the interview).

Once built, each question's `next` transitions are read back from the machine
into `QuestionProg.routes`, so `CompiledFlow.progress` can look ahead along the
path without stepping an interview (one trigger per question otherwise); other
per-question lookups (re-ask text, whether it may be skipped, contact fields,
parameters' static facts) are settled here too, once per flow version.

Compiled flows are cached by digest (the sha256 of the source text).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transitions import Machine

from flows.answers import OptionIndex, PhraseIndex, build_option_index, phrase_index
from flows.conditions import Predicate, compile_condition
from flows.schema import CONTACT_KINDS, FlowDef, KnockOut

if TYPE_CHECKING:
    from flows.engine import CompiledFlow

_CACHE_MAX = 64
_cache: OrderedDict[str, CompiledFlow] = OrderedDict()
_lock = threading.Lock()


@dataclass(slots=True)
class BandProg:
    up_to: float | None
    points: int
    knockout: KnockOut | None
    label: dict[str, str] | None


@dataclass(slots=True)
class RuleProg:
    id: str | None
    raw: tuple[str, ...]  # keywords in every language
    points: int
    knockout: KnockOut | None
    _index: PhraseIndex | None = None

    @property
    def phrases(self) -> PhraseIndex:
        if self._index is None:
            self._index = phrase_index(self.raw)
        return self._index


@dataclass(slots=True)
class QuestionProg:
    id: str
    index: int
    kind: str
    parameter: str | None
    lo: int  # the parameter's range, for clamping this question's points
    hi: int
    skippable: bool
    text: dict[str, str]
    reask: dict[str, str] | None
    option_ids: tuple[str, ...] = ()
    labels: dict[str, tuple[tuple[str, str], ...]] = field(
        default_factory=dict
    )  # lang -> (id, label)
    label_of: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> lang -> label
    match_table: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (option id, labels + synonyms)
    contains_table: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (option id, synonyms + labels)
    points: dict[str, int] = field(default_factory=dict)
    knockouts: dict[str, KnockOut] = field(default_factory=dict)
    bands: tuple[BandProg, ...] = ()
    rules: tuple[RuleProg, ...] = ()
    scoring: str = "sum"
    otherwise: int = 0
    skip: Predicate | None = None
    contact: str | None = None  # contact field for name/phone/email/company
    region: str | None = None
    may_skip: bool = False  # a skip_if or a contact field: `settle` must look at it
    # the machine's `next` transitions from this question, read back from it once
    # compiled: ((condition, wanted result)..., destination) in the order tried, so
    # `progress` can look ahead without stepping an interview
    routes: tuple[tuple[tuple[tuple[Callable[..., Any], bool], ...], str], ...] = ()
    reask_source: dict[str, str] | None = None  # the re-ask text per language
    # engine memo: (option id, lang) -> the parsed answer of that button (immutable)
    parsed: dict[tuple[str, str], Any] = field(default_factory=dict)
    _options: OptionIndex | None = None
    _phrases: tuple[tuple[str, PhraseIndex], ...] | None = None

    # Matching indexes are built on first use (a few ms per option list) and kept:
    # compiling stays fast, and a question nobody reaches costs nothing.
    @property
    def options(self) -> OptionIndex:
        if self._options is None:
            self._options = build_option_index(self.match_table)
        return self._options

    @property
    def phrase_table(self) -> tuple[tuple[str, PhraseIndex], ...]:
        if self._phrases is None:
            self._phrases = tuple((oid, phrase_index(p)) for oid, p in self.contains_table)
        return self._phrases

    def warm(self) -> None:
        if self.match_table:
            _ = self.options, self.phrase_table
        for rule in self.rules:
            _ = rule.phrases


@dataclass(slots=True, eq=False)
class IntentProg:
    id: str
    raw: tuple[str, ...]
    points: int
    fast_track: bool
    ends: bool
    say: dict[str, str] | None
    _index: PhraseIndex | None = None

    @property
    def phrases(self) -> PhraseIndex:
        if self._index is None:
            self._index = phrase_index(self.raw)
        return self._index


@dataclass(slots=True, frozen=True)
class ParamProg:
    """A framework parameter's static facts, for scoring."""

    id: str
    name: dict[str, str]
    min: int
    max: int
    weak_threshold: int
    next_action: dict[str, str]


@dataclass(slots=True)
class Program:
    machine: Machine
    first: str
    questions: dict[str, QuestionProg]
    order: tuple[str, ...]
    intents: tuple[IntentProg, ...]
    events: dict[str, Any]  # id -> EngagementEvent
    param_range: dict[str, tuple[int, int]]  # parameter id (and "fit", "engagement") -> range
    caps: tuple[tuple[Predicate, str | None, str | None, dict[str, str] | None], ...]
    offers: dict[str, dict[str, str]]  # knock-out reason -> offer text per language
    kinds: dict[str, str]
    intent_raw: tuple[str, ...] = ()  # every intent's phrases, for one search
    intent_of_phrase: dict[str, tuple[IntentProg, ...]] = field(default_factory=dict)
    params: tuple[ParamProg, ...] = ()  # framework parameters in file order
    max_total: int = 0
    event_labels: dict[str, dict[str, str] | None] = field(default_factory=dict)
    contact_of: dict[str, str] = field(default_factory=dict)  # question id -> contact field
    _intent_index: PhraseIndex | None = None

    @property
    def intent_phrases(self) -> PhraseIndex | None:
        if self._intent_index is None and self.intent_raw:
            self._intent_index = phrase_index(self.intent_raw)
        return self._intent_index

    def warm(self) -> None:
        """Build every matching index now (they are otherwise built on first use)."""
        for qp in self.questions.values():
            qp.warm()
        for it in self.intents:
            _ = it.phrases
        _ = self.intent_phrases


def _all_langs(value: dict[str, list[str]] | dict[str, str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    out: list[str] = []
    for item in value.values():
        if isinstance(item, str):
            out.append(item)
        else:
            out.extend(item)
    seen: dict[str, None] = {}
    for s in out:
        seen.setdefault(s, None)
    return tuple(seen)


def compile_program(flow: FlowDef) -> Program:
    """Build the machine and lookup tables for a validated flow."""
    kinds = {q.id: q.kind for q in flow.questions}
    ranges: dict[str, tuple[int, int]] = {p.id: (p.min, p.max) for p in flow.parameters}
    ranges["fit"] = flow.fit_range()
    ranges["engagement"] = flow.engagement_range()
    order = tuple(q.id for q in flow.questions)
    offers: dict[str, dict[str, str]] = {}

    def note_ko(ko: KnockOut | None) -> None:
        if ko is not None:
            offers.setdefault(ko.reason, dict(ko.offer))

    states = [*order, "done", "out"]
    machine = Machine(
        model=None,
        states=states,
        initial=order[0],
        auto_transitions=False,
        send_event=False,
        ignore_invalid_triggers=False,
        queued=False,
    )
    questions: dict[str, QuestionProg] = {}
    for i, q in enumerate(flow.questions):
        lo, hi = ranges.get(q.parameter, (0, 0)) if q.parameter else (0, 0)
        qp = QuestionProg(
            id=q.id,
            index=i,
            kind=q.kind,
            parameter=q.parameter,
            lo=lo,
            hi=hi,
            skippable=q.skippable,
            text=dict(q.text),
            reask=dict(q.reask) if q.reask else None,
            scoring=q.scoring,
            otherwise=q.otherwise,
            region=q.region or flow.phone_region,
            contact=q.kind if q.kind in CONTACT_KINDS else None,
        )
        texts = flow.texts
        qp.reask_source = qp.reask or texts.get(f"reask_{q.kind}") or texts.get("reask")
        if q.options:
            qp.option_ids = tuple(o.id for o in q.options)
            qp.labels = {
                lang: tuple((o.id, o.label[lang]) for o in q.options) for lang in flow.languages
            }
            qp.label_of = {o.id: dict(o.label) for o in q.options}
            qp.match_table = tuple(
                (o.id, (*_all_langs(o.label), *_all_langs(o.synonyms))) for o in q.options
            )
            qp.contains_table = tuple(
                (o.id, (*_all_langs(o.synonyms), *_all_langs(o.label))) for o in q.options
            )
            qp.points = {o.id: o.points for o in q.options}
            qp.knockouts = {o.id: o.knockout for o in q.options if o.knockout}
            for o in q.options:
                note_ko(o.knockout)
        steps = q.ranges or q.bands
        if steps:
            qp.bands = tuple(
                BandProg(b.up_to, b.points, b.knockout, dict(b.label) if b.label else None)
                for b in steps
            )
            for b in steps:
                note_ko(b.knockout)
        if q.rules:
            qp.rules = tuple(
                RuleProg(r.id, _all_langs(r.keywords), r.points, r.knockout) for r in q.rules
            )
            for r in q.rules:
                note_ko(r.knockout)
        if q.skip_if is not None:
            qp.skip = compile_condition(q.skip_if, kinds)
        qp.may_skip = qp.skip is not None or qp.contact is not None
        questions[q.id] = qp

        # transitions: the file's `next:` lines, in order, then the default
        following = order[i + 1] if i + 1 < len(order) else "done"
        lines = q.next or []
        for line in lines:
            conds: list[Callable[..., bool]] = []
            if line.when is not None:
                conds.append(compile_condition(line.when, kinds))
            machine.add_transition("next", q.id, line.to, conditions=conds or None)
        if not lines or any(line.when is not None for line in lines[-1:]):
            machine.add_transition("next", q.id, following)
    machine.add_transition("knockout", list(order), "out")
    machine.add_transition("finish", list(order), "done")
    next_event = machine.events["next"]
    for qid, qp in questions.items():
        qp.routes = tuple(
            (tuple((c.func, c.target) for c in t.conditions), t.dest)
            for t in next_event.transitions[qid]
        )

    intents = tuple(
        IntentProg(
            it.id,
            _all_langs(it.phrases),
            it.points,
            it.fast_track,
            it.ends,
            dict(it.say) if it.say else None,
        )
        for it in flow.intents
    )
    owners: dict[str, list[IntentProg]] = {}
    for it in intents:
        for phrase in it.raw:
            owners.setdefault(phrase, []).append(it)
    caps = tuple(
        (
            compile_condition(c.when, kinds),
            c.at_most,
            c.at_least,
            dict(c.reason) if c.reason else None,
        )
        for c in flow.caps
    )
    params = tuple(
        ParamProg(p.id, dict(p.name), p.min, p.max, p.weak_threshold, dict(p.next_action))
        for p in flow.parameters
    )
    return Program(
        machine=machine,
        first=order[0],
        questions=questions,
        order=order,
        intents=intents,
        events={ev.id: ev for ev in flow.events},
        param_range=ranges,
        caps=caps,
        offers=offers,
        kinds=kinds,
        intent_raw=tuple(owners),
        intent_of_phrase={p: tuple(v) for p, v in owners.items()},
        params=params,
        max_total=flow.max_total,
        event_labels={ev.id: dict(ev.label) if ev.label else None for ev in flow.events},
        contact_of={qid: qp.contact for qid, qp in questions.items() if qp.contact},
    )


def compile_flow(flow: FlowDef) -> CompiledFlow:
    """The compiled form of a flow version, built once and cached by digest."""
    from flows.engine import CompiledFlow

    key = flow.digest
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    compiled = CompiledFlow(flow, compile_program(flow))
    with _lock:
        _cache[key] = compiled
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return compiled


def clear_cache() -> None:
    with _lock:
        _cache.clear()
