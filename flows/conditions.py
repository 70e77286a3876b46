"""The small condition vocabulary of flow files, compiled to our own callables.

A condition is data, never code and never an import path:

    {answer: role, is: founder}            the answer picked this option (or matched this rule)
    {answer: role, in: [founder, ceo]}     ... one of these
    {answer: staff, above: 10}             number / timeline: the value; other kinds: the points
    {answer: staff, below: 1000}
    {answer: role, known: true}            answered (not skipped, not "don't know")
    {score: budget, above: 10}             a parameter's score so far; also fit, engagement,
    {score: fit, below: 0}                   total, percent
    {signal: demo}                         an intent or engagement event was seen
    {all: [...]}  {any: [...]}  {not: {...}}

`compile_condition` turns the tree into a plain closure over a context object
that offers `answer(qid)`, `score(name)` and `seen(signal)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

MAX_CONDITION_DEPTH = 12
NUMERIC_KINDS = frozenset({"number", "timeline"})


@dataclass(frozen=True)
class Cond:
    """One node of a parsed condition."""

    op: str  # is | in | range | known | score | signal | all | any | not
    question: str | None = None
    values: tuple[str, ...] = ()
    above: float | None = None
    below: float | None = None
    score: str | None = None
    signal: str | None = None
    flag: bool = True
    children: tuple[Cond, ...] = ()

    def describe(self) -> str:
        """A short human text, used by graphs and explanations."""
        if self.op == "is":
            return f"{self.question} = {self.values[0]}"
        if self.op == "in":
            return f"{self.question} in {', '.join(self.values)}"
        if self.op == "known":
            return f"{self.question} {'known' if self.flag else 'unknown'}"
        if self.op in ("range", "score"):
            name = self.question if self.op == "range" else f"score {self.score}"
            parts = []
            if self.above is not None:
                parts.append(f"{name} > {self.above:g}")
            if self.below is not None:
                parts.append(f"{name} < {self.below:g}")
            return " and ".join(parts)
        if self.op == "signal":
            return f"signal {self.signal}"
        if self.op == "not":
            return f"not ({self.children[0].describe()})"
        joiner = " and " if self.op == "all" else " or "
        return "(" + joiner.join(c.describe() for c in self.children) + ")"


class Context(Protocol):
    def answer(self, qid: str) -> Any: ...  # AnswerRecord | None
    def score(self, name: str) -> float: ...
    def seen(self, signal: str) -> bool: ...


Predicate = Callable[[Context], bool]

_SHAPES = (
    "a condition is one of: {answer: QUESTION, is: OPTION}, {answer: QUESTION, in: [OPTIONS]}, "
    "{answer: QUESTION, above: N}, {answer: QUESTION, below: N}, {answer: QUESTION, known: true}, "
    "{score: PARAMETER, above: N}, {signal: NAME}, {all: [...]}, {any: [...]}, {not: {...}}"
)


def _value(v: Any) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if isinstance(v, int | float | str):
        return str(v)
    raise ValueError(f"'{v}' is not an option id")


def _number(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"`{key}:` needs a number, not '{v}'")
    return float(v)


def parse_condition(raw: Any, _depth: int = 0) -> Cond:
    """Parse the YAML form of a condition; ValueError with a readable reason."""
    if isinstance(raw, Cond):
        return raw
    if _depth > MAX_CONDITION_DEPTH:
        raise ValueError("conditions are nested too deeply")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(_SHAPES)
    keys = set(raw)
    if keys & {"all", "any"}:
        if len(keys) != 1:
            raise ValueError(
                f"`{next(iter(keys & {'all', 'any'}))}:` stands alone in its condition"
            )
        op = next(iter(keys))
        items = raw[op]
        if not isinstance(items, list) or not items:
            raise ValueError(f"`{op}:` needs a list of conditions")
        kids = []
        for i, item in enumerate(items):
            try:
                kids.append(parse_condition(item, _depth + 1))
            except ValueError as exc:
                raise ValueError(f"in `{op}` item {i + 1}: {exc}") from None
        return Cond(op=op, children=tuple(kids))
    if "not" in keys:
        if len(keys) != 1:
            raise ValueError("`not:` stands alone in its condition")
        try:
            return Cond(op="not", children=(parse_condition(raw["not"], _depth + 1),))
        except ValueError as exc:
            raise ValueError(f"in `not`: {exc}") from None
    if "signal" in keys:
        if len(keys) != 1:
            raise ValueError("`signal:` stands alone: {signal: demo}")
        sig = raw["signal"]
        if not isinstance(sig, str) or not sig:
            raise ValueError("`signal:` needs an intent or event id")
        return Cond(op="signal", signal=sig)
    if "score" in keys:
        extra = keys - {"score", "above", "below"}
        if extra:
            raise ValueError(
                f"unknown key '{sorted(extra)[0]}' in a score condition (use above/below)"
            )
        if not keys & {"above", "below"}:
            raise ValueError("a score condition needs `above:` or `below:`")
        name = raw["score"]
        if not isinstance(name, str) or not name:
            raise ValueError("`score:` needs a parameter id, or fit / engagement / total / percent")
        return Cond(
            op="score",
            score=name,
            above=_number("above", raw["above"]) if "above" in raw else None,
            below=_number("below", raw["below"]) if "below" in raw else None,
        )
    if "answer" in keys:
        qid = raw["answer"]
        if not isinstance(qid, str) or not qid:
            raise ValueError("`answer:` needs a question id")
        extra = keys - {"answer", "is", "in", "above", "below", "known"}
        if extra:
            raise ValueError(
                f"unknown key '{sorted(extra)[0]}' in an answer condition "
                "(use is, in, above, below or known)"
            )
        ops = keys & {"is", "in", "known"}
        ranged = keys & {"above", "below"}
        if len(ops) + (1 if ranged else 0) != 1:
            raise ValueError("an answer condition needs exactly one of is, in, above/below, known")
        if "is" in raw:
            return Cond(op="is", question=qid, values=(_value(raw["is"]),))
        if "in" in raw:
            vals = raw["in"]
            if not isinstance(vals, list) or not vals:
                raise ValueError("`in:` needs a list of option ids")
            return Cond(op="in", question=qid, values=tuple(_value(v) for v in vals))
        if "known" in raw:
            flag = raw["known"]
            if not isinstance(flag, bool):
                raise ValueError("`known:` is true or false")
            return Cond(op="known", question=qid, flag=flag)
        return Cond(
            op="range",
            question=qid,
            above=_number("above", raw["above"]) if "above" in raw else None,
            below=_number("below", raw["below"]) if "below" in raw else None,
        )
    raise ValueError(_SHAPES)


def walk_condition(cond: Cond) -> Iterator[Cond]:
    yield cond
    for child in cond.children:
        yield from walk_condition(child)


def compile_condition(cond: Cond, kinds: Mapping[str, str]) -> Predicate:
    """A closure evaluating `cond` against a context. `kinds` maps question id -> kind."""
    op = cond.op
    if op == "all":
        parts = tuple(compile_condition(c, kinds) for c in cond.children)
        return lambda ctx: all(p(ctx) for p in parts)
    if op == "any":
        parts = tuple(compile_condition(c, kinds) for c in cond.children)
        return lambda ctx: any(p(ctx) for p in parts)
    if op == "not":
        inner = compile_condition(cond.children[0], kinds)
        return lambda ctx: not inner(ctx)
    if op == "signal":
        sig = cond.signal
        return lambda ctx: ctx.seen(sig)
    if op == "score":
        name, lo, hi = cond.score, cond.above, cond.below

        def score_pred(ctx: Context) -> bool:
            value = ctx.score(name)
            return (lo is None or value > lo) and (hi is None or value < hi)

        return score_pred
    qid = cond.question
    assert qid is not None
    if op in ("is", "in"):
        wanted = frozenset(cond.values)

        def choice_pred(ctx: Context) -> bool:
            rec = ctx.answer(qid)
            return rec is not None and not rec.unknown and not wanted.isdisjoint(rec.option_ids)

        return choice_pred
    if op == "known":
        flag = cond.flag

        def known_pred(ctx: Context) -> bool:
            rec = ctx.answer(qid)
            return (rec is not None and not rec.unknown) is flag

        return known_pred
    lo, hi = cond.above, cond.below
    numeric = kinds.get(qid) in NUMERIC_KINDS

    def range_pred(ctx: Context) -> bool:
        rec = ctx.answer(qid)
        if rec is None or rec.unknown:
            return False
        if numeric:
            try:
                value = float(rec.value)
            except (TypeError, ValueError):
                return False
        else:
            value = rec.points
        return (lo is None or value > lo) and (hi is None or value < hi)

    return range_pred
