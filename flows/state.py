"""The interview's state and the engine's answers: plain frozen dataclasses.

The engine never mutates its input: every call takes an InterviewState and
returns a new one inside a Step. The service stores the state (one interview
row plus answer and signal rows) and rebuilds it from storage for the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

ACTIVE_END_STATES = ("done", "out")
CONTACT_FIELDS = ("name", "phone", "email", "company")


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    question_id: str
    parameter: str | None  # framework parameter id, "fit", or None (contact questions)
    raw: str | None  # what the prospect typed, or the label of the button pressed
    option_ids: tuple[
        str, ...
    ]  # matched option ids (choice/multi/yesno), or matched rule ids (text)
    value: str | None  # normalised value: number, days, E.164 phone, email, text
    points: int  # points this answer gives to `parameter` (already inside its range)
    unknown: bool  # skip, don't know, or two misses
    reason: str | None  # short why: option label, the keyword that matched, the band


@dataclass(frozen=True, slots=True)
class SignalRecord:
    kind: str  # "intent" | "event"
    name: str  # intent id / engagement event id from the flow
    points: int  # engagement points
    raw: str | None


@dataclass(frozen=True, slots=True)
class InterviewState:
    flow_id: str
    lang: str  # any language the flow has texts for
    state: str  # current question id, or "done" / "out" (knocked out)
    answers: tuple[AnswerRecord, ...] = ()
    signals: tuple[SignalRecord, ...] = ()
    misses: int = 0  # unmatched replies to the current question (0, 1)
    knockout: str | None = None  # knock-out reason code
    fast_tracked: bool = False
    #: facts known before the interview, e.g. (("name", "Anna"),) from the Telegram
    #: profile; contact questions whose value is known are not asked
    known: tuple[tuple[str, str], ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in ACTIVE_END_STATES

    def known_value(self, field: str) -> str | None:
        for key, value in self.known:
            if key == field:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Step:
    state: InterviewState
    #: accepted | reask | unknown | done | out | stale | event | back
    outcome: str
    reask: str | None = None  # short re-ask text when outcome == "reask"
    fast_track: bool = False  # an intent or event just fast-tracked this lead to sales
    intents: tuple[str, ...] = ()  # intent ids seen in this input
    say: tuple[str, ...] = ()  # flow texts to say first (intents' `say:`), rendered


@dataclass(frozen=True, slots=True)
class QuestionView:
    id: str
    kind: str  # single|multi|number|timeline|text|yesno|phone|email|company|name
    text: str  # rendered in the state's language
    options: tuple[tuple[str, str], ...]  # (option id, label) for buttons; empty for free input
    skippable: bool
    index: int  # 1-based position on the current path, for "3/8"
    total: int
    parameter: str | None = None


def positional_maker(cls: type) -> Callable[..., Any]:
    """A constructor taking every field positionally, for the engine's hot path.

    A frozen dataclass's generated `__init__` looks `object.__setattr__` up again
    for every field; this sets the fields straight through their slot
    descriptors (or the instance dict), about twice as fast on a slow CPU. The
    object is the same: same class, same fields, equal to one made by `cls(...)`.
    No defaults, no checks: pass every field, in declaration order.
    """
    if hasattr(cls, "__post_init__"):  # it would be skipped: keep such a class on __init__
        raise TypeError(f"{cls.__name__} has __post_init__; build it with {cls.__name__}(...)")
    names = [f.name for f in fields(cls)]
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_set": object.__setattr__}
    args = ", ".join(names)
    if "__slots__" in cls.__dict__:
        for n in names:
            ns[f"_s_{n}"] = cls.__dict__[n].__set__
        body = "".join(f"    _s_{n}(o, {n})\n" for n in names)
    else:
        pairs = ", ".join(f"{n!r}: {n}" for n in names)
        body = f"    _set(o, '__dict__', {{{pairs}}})\n"
    src = f"def make({args}):\n    o = _new(_cls)\n{body}    return o\n"
    exec(src, ns)  # code made here from field names, as dataclasses does
    make = ns["make"]
    make.__doc__ = f"{cls.__name__}({args}), built fast"
    return make


new_answer = positional_maker(AnswerRecord)
new_state = positional_maker(InterviewState)
new_step = positional_maker(Step)
