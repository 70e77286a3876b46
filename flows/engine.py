"""The interview engine: pure functions of (state, input) -> Step.

A CompiledFlow is built once per flow version (`flows.compile_flow`) and used
for every interview of that version. It keeps no interview in memory: the
service passes the InterviewState in and stores the new one from the Step.

Every input moves the interview or counts as a miss; the second miss on a
question records it as unknown and moves on, and transitions only go forward,
so an interview ends after at most 2 inputs per question.

Cost per answer: one trigger of the machine's event (plus one per question
passed over by `skip_if` or a known contact); `progress` and `question` only
read the machine's transitions (`QuestionProg.routes`) and trigger nothing. The
states, records and steps of the hot path are built by positional makers
(`flows.state.positional_maker`), and a pressed button's parse is built once
per option and language.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flows.answers import (
    is_dont_know,
    is_skip,
    match_option_indexed,
    match_options_indexed,
    matches_any_indexed,
    parse_email,
    parse_number,
    parse_phone,
    parse_timeline,
    parse_yes_no,
)
from flows.compiler import Program, QuestionProg
from flows.schema import FlowDef
from flows.state import (
    CONTACT_FIELDS,
    AnswerRecord,
    InterviewState,
    QuestionView,
    SignalRecord,
    Step,
    new_answer,
    new_state,
    new_step,
)
from flows.texts import render, template_names

if TYPE_CHECKING:
    from flows.scoring import Result

__all__ = ["CompiledFlow", "QuestionView", "Step"]

_ENDS = ("done", "out")
_TEXT_MAX = 1000  # characters kept of a free-text answer


class _Cursor:
    """The throw-away model a machine event moves: it only has a state."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Ctx:
    """What conditions may read: answers so far, running scores, signals seen."""

    __slots__ = ("_by_q", "_prog", "_scores", "answers", "signals")

    def __init__(
        self,
        prog: Program,
        answers: tuple[AnswerRecord, ...],
        signals: tuple[SignalRecord, ...],
        scores: dict[str, float] | None = None,
    ) -> None:
        self._prog = prog
        self.answers = answers
        self.signals = signals
        self._by_q: dict[str, AnswerRecord] | None = None
        self._scores = scores  # running_scores, when the caller has them already

    def answer(self, qid: str) -> AnswerRecord | None:
        if self._by_q is None:
            self._by_q = {a.question_id: a for a in self.answers}
        return self._by_q.get(qid)

    def seen(self, signal: str) -> bool:
        return any(s.name == signal for s in self.signals)

    def score(self, name: str) -> float:
        if self._scores is None:
            self._scores = running_scores(self._prog, self.answers, self.signals)
        return self._scores.get(name, 0)


def running_scores(
    prog: Program, answers: tuple[AnswerRecord, ...], signals: tuple[SignalRecord, ...]
) -> dict[str, float]:
    """Per-parameter points clamped to [min, max], plus fit, engagement, total, percent."""
    sums: dict[str, int] = {}
    for a in answers:
        if a.parameter is not None and not a.unknown:
            sums[a.parameter] = sums.get(a.parameter, 0) + a.points
    out: dict[str, float] = {}
    total = 0
    max_total = 0
    for pid, (lo, hi) in prog.param_range.items():
        if pid == "engagement":
            continue
        value = min(hi, max(lo, sums.get(pid, 0)))
        out[pid] = value
        if pid != "fit":
            total += value
            max_total += hi
    lo, hi = prog.param_range["engagement"]
    out["engagement"] = min(hi, max(lo, sum(s.points for s in signals)))
    out["total"] = total
    out["percent"] = round(total * 100 / max_total, 1) if max_total else 0.0
    return out


class _Parsed:
    __slots__ = ("knockout", "option_ids", "points", "reason", "unknown", "value")

    def __init__(
        self,
        option_ids: tuple[str, ...] = (),
        value: str | None = None,
        points: int = 0,
        reason: str | None = None,
        knockout: Any = None,
        unknown: bool = False,
    ) -> None:
        self.option_ids = option_ids
        self.value = value
        self.points = points
        self.reason = reason
        self.knockout = knockout
        self.unknown = unknown


def _route(qp: QuestionProg, ctx: Ctx) -> str:
    """Where the machine's `next` event would take the interview from `qp`."""
    for conditions, dest in qp.routes:
        for func, wanted in conditions:
            if func(ctx) != wanted:  # as transitions' Condition.check compares
                break
        else:
            return dest
    return "done"  # pragma: no cover - validated flows always have a way out


_UNKNOWN = _Parsed(unknown=True, reason="not understood")


def _num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class CompiledFlow:
    """A flow version compiled for use. Thread-safe: it holds no interview state."""

    def __init__(self, flow: FlowDef, program: Program) -> None:
        self.flow = flow
        self.program = program
        self.machine = program.machine
        self.digest = flow.digest
        self.id = flow.id
        self.languages = tuple(flow.languages)
        self._q = program.questions
        self._next = program.machine.events["next"]
        self._knockout = program.machine.events["knockout"]
        self._finish = program.machine.events["finish"]
        self._skip_any = any(
            qp.skip is not None or qp.contact is not None for qp in program.questions.values()
        )

    # ------------------------------------------------------------------ helpers
    def warm(self) -> CompiledFlow:
        """Build every typed-answer matching index now instead of on first use."""
        self.program.warm()
        return self

    def pick_language(self, code: str | None) -> str:
        """The flow's language for a Telegram language code ("ru", "en-US", ...)."""
        if code:
            code = code.lower().replace("-", "_")
            if code in self.languages:
                return code
            base = code.split("_")[0]
            if base in self.languages:
                return base
        return self.languages[0]

    def _ctx(self, state: InterviewState, answers=None, signals=None) -> Ctx:
        return Ctx(
            self.program,
            state.answers if answers is None else answers,
            state.signals if signals is None else signals,
        )

    def _known(self, state: InterviewState, answers: tuple[AnswerRecord, ...], field: str) -> bool:
        for key, value in state.known:
            if key == field and value:
                return True
        contact_of = self.program.contact_of
        for a in answers:
            if contact_of.get(a.question_id) == field and a.value and not a.unknown:
                return True
        return False

    def _settle(
        self,
        cursor: _Cursor,
        ctx: Ctx,
        state: InterviewState,
    ) -> None:
        """Skip questions whose `skip_if` holds or whose contact value is known."""
        if not self._skip_any:
            return
        q = self._q
        while cursor.state not in _ENDS:
            qp = q[cursor.state]
            if not (qp.may_skip and self._skipped(qp, ctx, state)):
                return
            if not self._next.trigger(cursor, ctx):  # pragma: no cover - validated flows
                raise RuntimeError(f"question '{cursor.state}' has no way out")

    def _skipped(self, qp: QuestionProg, ctx: Ctx, state: InterviewState) -> bool:
        """Is this question passed over: its `skip_if` holds, or its contact is known?"""
        return (qp.skip is not None and qp.skip(ctx)) or (
            qp.contact is not None and self._known(state, ctx.answers, qp.contact)
        )

    def _advance(self, state: InterviewState, qid: str, ctx: Ctx) -> str:
        cursor = _Cursor(qid)
        if not self._next.trigger(cursor, ctx):  # pragma: no cover - validated flows
            raise RuntimeError(f"question '{qid}' has no way out")
        target = cursor.state
        if target in _ENDS or not self._q[target].may_skip:
            return target  # the common case: no skip to look at
        self._settle(cursor, ctx, state)
        return cursor.state

    def _first_name(self, state: InterviewState) -> str | None:
        """The name a name question got, else the one known from the profile."""
        contact_of = self.program.contact_of
        for a in reversed(state.answers):
            if contact_of.get(a.question_id) == "name" and a.value and not a.unknown:
                return a.value
        return state.known_value("name")

    def _variables(
        self,
        state: InterviewState,
        extra: Mapping[str, Any] | None = None,
        names: Sequence[str] | None = None,
    ) -> dict:
        """Template variables; with `names`, only those a template reads are built."""
        lang = state.lang
        flow = self.flow
        if names is None:
            out = {name: value.get(lang, "") for name, value in flow.strings.items()}
            wanted = ("answers", "title", "first_name")
        else:
            out = {n: flow.strings[n].get(lang, "") for n in names if n in flow.strings}
            wanted = names
        if "answers" in wanted:
            answers: dict[str, str] = {}
            for a in state.answers:
                if a.unknown:
                    continue
                qp = self._q.get(a.question_id)
                if qp is not None and qp.label_of and a.option_ids:
                    shown = ", ".join(
                        qp.label_of[o][lang] for o in a.option_ids if o in qp.label_of
                    )
                else:
                    shown = a.value or a.raw or ""
                answers[a.question_id] = shown
            out["answers"] = answers
        if "title" in wanted:
            out["title"] = flow.title.get(lang, "")
        if "first_name" in wanted:
            first_name = self._first_name(state)
            if first_name:  # left undefined otherwise, so `default(...)` and `if` work
                out["first_name"] = first_name
        if extra:
            out.update(extra)
        return out

    def render(self, text_by_lang: Mapping[str, str], state: InterviewState, extra=None) -> str:
        """Render one of the flow's texts in the state's language."""
        text = text_by_lang.get(state.lang) or next(iter(text_by_lang.values()))
        if "{" not in text:
            return text
        return render(text, self._variables(state, extra, template_names(text)))

    # ------------------------------------------------------------------ public API
    def start(
        self,
        lang: str | None = None,
        *,
        known: Mapping[str, str | None] | None = None,
    ) -> Step:
        """A new interview. `known`: facts from the profile (name, phone, email, company)."""
        facts = tuple(
            sorted(
                (k, str(v).strip())
                for k, v in (known or {}).items()
                if k in CONTACT_FIELDS and v is not None and str(v).strip()
            )
        )
        lang = self.pick_language(lang)
        first = self.program.first
        state = new_state(self.id, lang, first, (), (), 0, None, False, facts)
        if self._q[first].may_skip:
            cursor = _Cursor(first)
            self._settle(cursor, Ctx(self.program, (), ()), state)
            if cursor.state != first:
                state = new_state(self.id, lang, cursor.state, (), (), 0, None, False, facts)
        return new_step(state, "done" if state.state == "done" else "start", None, False, (), ())

    def question(self, state: InterviewState) -> QuestionView | None:
        qp = self._q.get(state.state)
        if qp is None:
            return None
        done, total = self.progress(state)
        return QuestionView(
            id=qp.id,
            kind=qp.kind,
            text=self.render(qp.text, state),
            options=qp.labels.get(state.lang, ()),
            skippable=qp.skippable,
            index=done + 1,
            total=total,
            parameter=qp.parameter,
        )

    def reask_text(self, state: InterviewState) -> str:
        qp = self._q.get(state.state)
        if qp is None:
            return ""
        source = qp.reask_source or self.flow.texts["reask"]
        text = source.get(state.lang) or next(iter(source.values()))
        if "{" not in text:
            return text
        names = template_names(text)
        extra = {}
        if "options" in names:
            labels = qp.labels.get(state.lang, ())
            extra["options"] = ", ".join(f"{i}) {label}" for i, (_, label) in enumerate(labels, 1))
        if "question" in names:
            extra["question"] = self.render(qp.text, state)
        return render(text, self._variables(state, extra, names))

    def progress(self, state: InterviewState) -> tuple[int, int]:
        """(questions answered, expected total on the current path)."""
        answered = len(state.answers)
        if state.state in _ENDS:
            return answered, answered
        # a look-ahead, not a step: the machine's own `next` transitions, read back
        # from it at compile time, are followed here without triggering it (a walk
        # to the end costs one trigger per question otherwise)
        ctx = self._ctx(state)
        q = self._q
        current = state.state
        remaining = 0
        seen = set()
        while current not in _ENDS and current not in seen:  # validated flows only go forward
            seen.add(current)
            qp = q[current]
            if remaining and qp.may_skip and self._skipped(qp, ctx, state):
                pass
            else:
                remaining += 1
            current = _route(qp, ctx)
        return answered, answered + remaining

    def answer(
        self,
        state: InterviewState,
        text: str | None = None,
        *,
        option: str | Sequence[str] | None = None,
        question: str | None = None,
        today: _dt.date | None = None,
    ) -> Step:
        """Take one input: typed `text`, or a pressed button's `option` id (for a
        multi-choice question also a sequence of option ids, the toggled set).

        `question`: the question id the input was meant for (a button's
        callback); an input for another question comes back "stale".
        """
        qp = self._q.get(state.state)
        if qp is None or (question is not None and question != qp.id):
            return Step(state, "stale")
        lang = state.lang
        if text and self.program.intents:
            signals, fast, ends, intents, say = self._intents(state, text)
        else:
            signals, fast, ends, intents, say = state.signals, False, False, (), ()

        if option is not None:
            parsed = self._from_option(qp, option, lang)
            if parsed is None:
                return Step(state, "stale")
            raw = parsed.reason
        else:
            raw = text.strip()[:_TEXT_MAX] if text else None
            parsed = self._parse(qp, raw, lang, today) if raw else None

        fast_tracked = state.fast_tracked or fast
        if parsed is None:
            if ends:  # "not interested" and the like: end without an answer
                cursor = _Cursor(qp.id)
                self._finish.trigger(cursor)
                new = self._moved(
                    state, cursor.state, state.answers, signals, state.knockout, fast_tracked
                )
                return self._step(new, "done", fast, intents, say)
            if state.misses == 0:
                new = new_state(
                    state.flow_id,
                    lang,
                    state.state,
                    state.answers,
                    signals,
                    1,
                    state.knockout,
                    fast_tracked,
                    state.known,
                )
                return self._step(new, "reask", fast, intents, say, reask=self.reask_text(new))
            parsed = _UNKNOWN

        rec = new_answer(
            qp.id,
            qp.parameter,
            raw,
            parsed.option_ids,
            parsed.value,
            0 if parsed.unknown else min(qp.hi, max(qp.lo, parsed.points)),
            parsed.unknown,
            parsed.reason,
        )
        answers = (*state.answers, rec)
        knockout = None
        if parsed.knockout is not None:
            cursor = _Cursor(qp.id)
            self._knockout.trigger(cursor)
            target = cursor.state
            knockout = parsed.knockout.reason
            outcome = "out"
        elif ends:
            cursor = _Cursor(qp.id)
            self._finish.trigger(cursor)
            target = cursor.state
            outcome = "done"
        else:
            target = self._advance(state, qp.id, Ctx(self.program, answers, signals))
            outcome = "done" if target == "done" else ("unknown" if rec.unknown else "accepted")
        new = self._moved(state, target, answers, signals, knockout, fast_tracked)
        if not fast and not say:
            return new_step(new, outcome, None, False, intents, ())
        return self._step(new, outcome, fast, intents, say)

    @staticmethod
    def _moved(state, target, answers, signals, knockout, fast_tracked) -> InterviewState:
        """The state after an input that moved the interview (misses start again)."""
        return new_state(
            state.flow_id,
            state.lang,
            target,
            answers,
            signals,
            0,
            knockout,
            fast_tracked,
            state.known,
        )

    def skip(self, state: InterviewState) -> Step:
        """The Skip button: the current question's answer is unknown (0 points)."""
        qp = self._q.get(state.state)
        if qp is None:
            return Step(state, "stale")
        rec = new_answer(qp.id, qp.parameter, None, (), None, 0, True, "skipped")
        answers = (*state.answers, rec)
        target = self._advance(state, qp.id, Ctx(self.program, answers, state.signals))
        new = self._moved(state, target, answers, state.signals, state.knockout, state.fast_tracked)
        return Step(new, "done" if target == "done" else "unknown")

    def back(self, state: InterviewState) -> Step:
        """Undo the last answered question and ask it again."""
        if not state.answers:
            return Step(state, "stale")
        last = state.answers[-1]
        if last.question_id not in self._q:  # pragma: no cover - foreign state
            return Step(state, "stale")
        new = self._moved(
            state, last.question_id, state.answers[:-1], state.signals, None, state.fast_tracked
        )
        return Step(new, "back")

    def event(self, state: InterviewState, name: str, raw: str | None = None) -> Step:
        """An engagement event the bot reports (materials_opened, opted_out, ...)."""
        ev = self.program.events.get(name)
        if ev is None:
            return Step(state, "stale")
        if ev.once and any(s.kind == "event" and s.name == name for s in state.signals):
            return Step(state, "event")
        signals = (*state.signals, SignalRecord("event", name, ev.points, raw))
        fast = ev.fast_track and not state.fast_tracked and state.state != "out"
        target = state.state
        if ev.ends and target not in _ENDS:
            cursor = _Cursor(target)
            self._finish.trigger(cursor)
            target = cursor.state
        new = new_state(
            state.flow_id,
            state.lang,
            target,
            state.answers,
            signals,
            0 if target != state.state else state.misses,
            state.knockout,
            state.fast_tracked or ev.fast_track,
            state.known,
        )
        return self._step(new, "event", fast, (), ())

    def result(self, state: InterviewState) -> Result:
        """Scores, tier, stage and the reasons, for a finished or unfinished interview."""
        from flows.scoring import score

        return score(self, state)

    # ------------------------------------------------------------------ internals
    def _step(self, state, outcome, fast, intents, say, reask=None) -> Step:
        if not fast and not say:
            return Step(state, outcome, reask, False, intents)
        # a fast-track counts only when the lead ends up hot (a cap may hold it back)
        fast = bool(fast) and state.state != "out" and self.result(state).tier == "hot"
        rendered = tuple(self.render(s, state) for s in say) if say else ()
        return Step(state, outcome, reask, fast, intents, rendered)

    def _intents(self, state: InterviewState, text: str):
        found = self._find_intents(text)
        if not found:
            return state.signals, False, False, (), ()
        seen = {s.name for s in state.signals if s.kind == "intent"}
        signals = state.signals
        fast = ends = False
        say = []
        raw = text.strip()[:_TEXT_MAX]
        for it in found:
            if it.id in seen:
                continue
            signals = (*signals, SignalRecord("intent", it.id, it.points, raw))
            if it.fast_track and not state.fast_tracked:
                fast = True
            ends = ends or it.ends
            if it.say:
                say.append(it.say)
        return signals, fast, ends, tuple(it.id for it in found), tuple(say)

    def _find_intents(self, text: str) -> list:
        """Intents whose phrases occur in the text, in the flow's order.

        One search over every intent's phrases answers the common case (no
        intent) with one call; each hit removes its intent and searches again.
        """
        prog = self.program
        if prog.intent_phrases is None:
            return []
        hit = matches_any_indexed(text, prog.intent_phrases)
        if hit is None:
            return []
        first = prog.intent_of_phrase[hit]
        return [
            it
            for it in prog.intents
            if it in first or matches_any_indexed(text, it.phrases) is not None
        ]

    def _from_option(self, qp: QuestionProg, option, lang: str) -> _Parsed | None:
        if type(option) is str:
            parsed = qp.parsed.get((option, lang))
            if parsed is not None:  # this button was pressed before
                return parsed
            ids = [option]
        else:
            ids = [option] if isinstance(option, str) else list(option)
        if not ids or any(i not in qp.points for i in ids):
            return None
        if len(ids) > 1 and qp.kind != "multi":
            return None
        return self._choice(ids, qp, lang, None)

    def _choice(self, ids, qp: QuestionProg, lang: str, why: str | None) -> _Parsed:
        if len(ids) == 1:
            oid = ids[0]
            key = (oid, lang)
            parsed = qp.parsed.get(key)
            if parsed is None:  # one per button and language: _Parsed is never changed
                parsed = qp.parsed[key] = _Parsed(
                    (oid,), oid, qp.points[oid], qp.label_of[oid][lang], qp.knockouts.get(oid)
                )
            return parsed
        ids = tuple(dict.fromkeys(ids))
        points = sum(qp.points[i] for i in ids)
        ko = next((qp.knockouts[i] for i in ids if i in qp.knockouts), None)
        labels = ", ".join(qp.label_of[i][lang] for i in ids)
        return _Parsed(ids, ids[0] if len(ids) == 1 else ",".join(ids), points, labels, ko)

    def _phrase_hits(self, qp: QuestionProg, text: str) -> list[str]:
        return [
            oid for oid, index in qp.phrase_table if matches_any_indexed(text, index) is not None
        ]

    def _parse(self, qp: QuestionProg, text: str, lang: str, today) -> _Parsed | None:
        kind = qp.kind
        if kind in ("single", "yesno", "multi"):
            hit = self._parse_choice(qp, text, lang)
            if hit is not None:
                return hit
            if is_skip(text):
                return _Parsed(unknown=True, reason="skipped")
            if is_dont_know(text):
                return _Parsed(unknown=True, reason="don't know")
            return None
        if is_skip(text):
            return _Parsed(unknown=True, reason="skipped")
        if is_dont_know(text):
            return _Parsed(unknown=True, reason="don't know")
        if kind == "number":
            value = parse_number(text)
            if value is None:
                return None
            return self._band(qp, value, _num_text(value), lang)
        if kind == "timeline":
            days = parse_timeline(text, today or _dt.date.today())
            if days is None:
                return None
            return self._band(qp, days, str(int(days)), lang, unit=" days")
        if kind == "text":
            return self._text(qp, text)
        if kind == "phone":
            phone = parse_phone(text, qp.region)
            return _Parsed(value=phone, reason="phone") if phone else None
        if kind == "email":
            email = parse_email(text)
            return _Parsed(value=email, reason="email") if email else None
        # company, name: the text itself
        value = " ".join(text.split())[:200]
        return _Parsed(value=value, reason=kind) if value else None

    def _parse_choice(self, qp: QuestionProg, text: str, lang: str) -> _Parsed | None:
        if qp.kind == "yesno":
            yn = parse_yes_no(text)
            if yn is not None:
                return self._choice(["yes" if yn else "no"], qp, lang, None)
        if qp.kind == "multi":
            ids = match_options_indexed(text, qp.options)
            if ids:
                return self._choice(ids, qp, lang, None)
            hits = self._phrase_hits(qp, text)
            return self._choice(hits, qp, lang, None) if hits else None
        m = match_option_indexed(text, qp.options)
        if m is not None and m.sure:
            return self._choice([m.option_id], qp, lang, None)
        hits = self._phrase_hits(qp, text)
        if len(hits) == 1:
            return self._choice(hits, qp, lang, None)
        return None

    def _band(
        self, qp: QuestionProg, value: float, shown: str, lang: str, unit: str = ""
    ) -> _Parsed:
        for band in qp.bands:
            if band.up_to is None or value <= band.up_to:
                label = band.label.get(lang) if band.label else None
                reason = f"{shown}{unit}" + (f": {label}" if label else "")
                return _Parsed(
                    value=shown, points=band.points, reason=reason, knockout=band.knockout
                )
        return _Parsed(value=shown, reason=f"{shown}{unit}")  # pragma: no cover - validated

    def _text(self, qp: QuestionProg, text: str) -> _Parsed:
        ids: list[str] = []
        matched: list[str] = []
        points = 0
        ko = None
        for rule in qp.rules:
            phrase = matches_any_indexed(text, rule.phrases)
            if phrase is None:
                continue
            matched.append(phrase)
            points += rule.points
            if rule.id:
                ids.append(rule.id)
            if ko is None and rule.knockout is not None:
                ko = rule.knockout
            if qp.scoring == "first":
                break
        if not matched:
            points = qp.otherwise
        if matched:
            reason: str | None = "matched: " + ", ".join(matched)
        else:
            reason = "no rule matched" if qp.rules else None
        return _Parsed(tuple(ids), " ".join(text.split()), points, reason, ko)
