"""The interview's state and the engine's answers: plain frozen dataclasses.

The engine never mutates its input: every call takes an InterviewState and
returns a new one inside a Step. The service stores the state (one interview
row plus answer and signal rows) and rebuilds it from storage for the next call.
"""

from __future__ import annotations

from dataclasses import dataclass

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
