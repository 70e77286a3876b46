"""Typed answers to single and multiple choice questions.

How a text picks an option, strongest first:
1. it equals a label or synonym (after `normalize`): score 100;
2. it names an option by number ("2", "#2", "второй"); when the labels are
   numeric ranges ("1-10", "11-50") a bare number is read as a value instead,
   and a number that fits one range but names another option is not sure;
3. a label is found in it as whole words ("we already have the budget approved"),
   or it is found inside a label ("2 weeks" in "Within 2 weeks"), with Russian
   endings and one typo per word tolerated;
4. a number in it fits one range label ("about 30 people" for "11-50");
5. it is a typo of a whole label (rapidfuzz ratio).

`sure` is False when the best score is weak or a second option is close, so
the engine re-asks instead of guessing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from rapidfuzz import fuzz, process

from flows.answers.number import parse_bounds, parse_number
from flows.answers.phrases import (
    PhraseIndex,
    build_phrase_index,
    find_in_order,
    negated,
    remember,
    word_hits,
)
from flows.answers.picks import picked_number
from flows.answers.text import TextInfo, analyze, normalize
from flows.answers.vocabulary import ALL_NEGATIONS, CONJUNCTIONS, STOPWORDS

SURE_SCORE = 70.0  # below this the best option is a guess
SURE_MARGIN = 8.0  # a runner-up this close makes it a guess too
_FUZZY_CUTOFF = 80.0
_FUZZY_MAX_CHARS = 80  # whole-text typo matching only for short answers

Options = Sequence[tuple[str, Sequence[str]]]


@dataclass(frozen=True, slots=True)
class OptionMatch:
    option_id: str
    score: float  # 0..100
    sure: bool


@dataclass(frozen=True, slots=True, eq=False)
class OptionIndex:
    """One question's options, precomputed for matching."""

    ids: tuple[str, ...]  # option ids in the given order
    phrases: PhraseIndex  # every label and synonym
    phrase_option: tuple[int, ...]  # phrase -> option position
    exact: dict[str, tuple[int, ...]]  # normalised label -> option positions
    ranges: tuple[tuple[int, float, float], ...]  # (option, low, high) for numeric labels
    labels: tuple[str, ...]  # normalised labels, for whole-text typo matching
    label_option: tuple[int, ...]
    # typed text -> verdict: answers repeat across chats ("2", "yes", "founder")
    results: dict[str, OptionMatch | None] = field(default_factory=dict)
    multi_results: dict[str, tuple[str, ...] | None] = field(default_factory=dict)


_ALT_SPLIT = re.compile(r"\s*[/|]\s*")


def _alternatives(label: str) -> list[str]:
    """A label and, for "Founder / owner", each alternative on its own."""
    parts = _ALT_SPLIT.split(label)
    if len(parts) > 1 and all(any(ch.isalpha() for ch in p) for p in parts):
        return [label, *parts]
    return [label]


def build_option_index(options: Options) -> OptionIndex:
    ids: list[str] = []
    flat: list[str] = []
    phrase_option: list[int] = []
    exact: dict[str, list[int]] = {}
    ranges: list[tuple[int, float, float]] = []
    for pos, (oid, labels) in enumerate(options):
        ids.append(str(oid))
        bounds = None
        for label in labels:
            label = str(label)
            if bounds is None and any(ch.isdigit() for ch in label):
                bounds = parse_bounds(label)
            for phrase in _alternatives(label):
                norm = normalize(phrase)
                if not norm:
                    continue
                flat.append(phrase)
                phrase_option.append(pos)
                if pos not in exact.setdefault(norm, []):
                    exact[norm].append(pos)
        if bounds is not None:
            ranges.append((pos, *bounds))
    labels = tuple(dict.fromkeys(normalize(p) for p in flat))
    label_option = tuple(exact[label][0] for label in labels)
    return OptionIndex(
        tuple(ids),
        build_phrase_index(flat),
        tuple(phrase_option),
        {k: tuple(v) for k, v in exact.items()},
        tuple(ranges) if len(ranges) >= 2 else (),  # one numeric label is not a scale
        labels,
        label_option,
    )


@lru_cache(maxsize=2048)
def _cached_index(options: tuple) -> OptionIndex:
    return build_option_index(options)


def option_index(options: Options | OptionIndex) -> OptionIndex:
    """The index for an option list, built once per distinct (hashable) list."""
    if isinstance(options, OptionIndex):
        return options
    try:
        return _cached_index(options if isinstance(options, tuple) else tuple(options))
    except TypeError:  # lists inside: make it hashable once
        frozen = tuple((oid, tuple(labels)) for oid, labels in options)
        try:
            return _cached_index(frozen)
        except TypeError:
            return build_option_index(frozen)


# ----------------------------------------------------------------------------- scoring
class _Scored(NamedTuple):
    score: float
    start: int = -1  # span of an in-order hit, -1 otherwise
    end: int = -1


def _content_positions(info: TextInfo) -> list[int]:
    pos = [i for i, t in enumerate(info.tokens) if t not in STOPWORDS]
    return pos or list(range(len(info.tokens)))


def _phrase_scores(
    info: TextInfo, index: OptionIndex
) -> tuple[dict[int, _Scored], dict[int, set[int]]]:
    """Best score per option from word hits, and the text positions each option touched."""
    ix = index.phrases
    hits = word_hits(info, ix)
    scores: dict[int, _Scored] = {}
    touched: dict[int, set[int]] = {}
    if not hits:
        return scores, touched
    content = _content_positions(info)
    n_content = len(content)
    owner, phrase_option = ix.owner, index.phrase_option
    unordered = []
    for v, by_word in hits.items():
        opt = phrase_option[owner[v]]
        if index.ranges:
            seen = touched.setdefault(opt, set())
            for ps in by_word.values():
                seen.update(ps)
        found = find_in_order(info, ix, v, by_word)
        if found is None:
            unordered.append((opt, v, by_word))
            continue
        start, end, quality = found
        inside = n_content if n_content == 1 else sum(1 for p in content if start <= p <= end)
        score = 100 * quality * (0.75 + 0.25 * inside / n_content)
        old = scores.get(opt)
        if old is None or score > old.score:
            scores[opt] = _Scored(score, start, end)
    # out-of-order and partial hits score at most 90: only worth a look for
    # options with nothing better found in order
    content_set = set(content)
    for opt, v, by_word in unordered:
        old = scores.get(opt)
        if old is not None and old.score >= _LOOSE_MAX:
            continue
        cand = _loose(info, ix, v, by_word, content_set)
        if cand is not None and (old is None or cand.score > old.score):
            scores[opt] = cand
    return scores, touched


_LOOSE_MAX = 90.0


def _loose(
    info: TextInfo, ix: PhraseIndex, v: int, by_word: dict, content: set[int]
) -> _Scored | None:
    """Out-of-order or partial: all label words somewhere, or all typed words in the label."""
    label_content = [j for j, c in enumerate(ix.content[v]) if c]
    got = [j for j in label_content if by_word.get(j)]
    if not got:
        return None
    positions = {p for j in got for p in by_word[j]}
    if len({info.clauses[p] for p in positions}) > 1:
        return None  # "no problem, budget approved" does not say "no budget"
    if ix.guarded[v] and any(negated(info, p, p) for p in positions):
        return None
    quality = sum(max(by_word[j].values()) for j in got) / len(got)
    label_cov = len(got) / len(label_content)
    text_cov = len(positions & content) / len(content)
    if label_cov == 1.0:
        return _Scored(100 * quality * (0.70 + 0.20 * text_cov))
    if text_cov == 1.0:
        return _Scored(100 * quality * (0.60 + 0.30 * label_cov))
    return None


def _drop_subsumed(scores: dict[int, _Scored]) -> None:
    """ "crm integration" found whole beats "crm" found inside it."""
    spans = [(o, s) for o, s in scores.items() if s.start >= 0]
    for o, s in spans:
        for o2, s2 in spans:
            if (
                o2 != o
                and s2.start <= s.start
                and s.end <= s2.end
                and (s2.end - s2.start) > (s.end - s.start)
            ):
                scores.pop(o, None)
                break


def _verdict(index: OptionIndex, scores: dict[int, float]) -> OptionMatch | None:
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    best_opt, best = ranked[0]
    runner = ranked[1][1] if len(ranked) > 1 else -math.inf
    sure = best >= SURE_SCORE and best - runner >= SURE_MARGIN
    return OptionMatch(index.ids[best_opt], round(min(best, 100.0), 1), sure)


_NUMBER_WORDS = frozenset(
    {
        "about", "around", "approx", "approximately", "roughly", "nearly", "almost", "over",
        "more", "than", "less", "under", "up", "to", "from", "between", "k", "m", "mln",
        "thousand", "million", "около", "примерно", "приблизительно", "где", "то", "почти",
        "больше", "более", "меньше", "менее", "свыше", "до", "от", "тыс", "тысяч", "тысячи",
        "млн", "к", "человек", "people",
    }
)  # fmt: skip


def _by_range(
    info: TextInfo, text: str, index: OptionIndex, touched: dict[int, set[int]]
) -> OptionMatch | None:
    value = parse_number(text)
    if value is None:
        return None
    fits = [(hi - lo, opt) for opt, lo, hi in index.ranges if lo <= value <= hi]
    # words beside the number ("2 months") must appear in the chosen label
    extra = {
        i
        for i, t in enumerate(info.tokens)
        if t.isalpha() and t not in STOPWORDS and t not in _NUMBER_WORDS
    }
    if extra:
        fits = [f for f in fits if touched.get(f[1], set()) & extra]
    if not fits:
        return None
    fits.sort()
    return OptionMatch(index.ids[fits[0][1]], 88.0, True)


def _fuzzy_whole(info: TextInfo, index: OptionIndex) -> OptionMatch | None:
    if len(info.norm) > _FUZZY_MAX_CHARS or not index.labels:
        return None
    if not ALL_NEGATIONS.isdisjoint(info.tokens):
        return None  # "budget not approved" is one edit from "budget approved"
    found = process.extract(
        info.norm, index.labels, scorer=fuzz.ratio, limit=6, score_cutoff=_FUZZY_CUTOFF
    )
    scores: dict[int, float] = {}
    for _, ratio, i in found:
        opt = index.label_option[i]
        scores[opt] = max(scores.get(opt, 0.0), ratio * 0.95)
    return _verdict(index, scores)


def match_option_indexed(text: str, index: OptionIndex) -> OptionMatch | None:
    """`match_option` with a prebuilt index."""
    if not text or not index.ids:
        return None
    try:
        return index.results[text]
    except KeyError:
        pass
    found = _match_option(text, index)
    remember(index.results, text, found)
    return found


def _match_option(text: str, index: OptionIndex) -> OptionMatch | None:
    info = analyze(text)
    if not info.tokens:
        return None
    exact = index.exact.get(info.norm)
    if exact:
        return OptionMatch(index.ids[exact[0]], 100.0, len(exact) == 1)
    n = picked_number(info)
    if n is not None:
        if index.ranges:
            by_value = _by_range(info, text, index, {})
            if by_value is not None:
                named = index.ids[n - 1] if 1 <= n <= len(index.ids) else None
                if named is None or named == by_value.option_id:
                    return by_value
                return OptionMatch(by_value.option_id, 60.0, False)
        if 1 <= n <= len(index.ids):
            return OptionMatch(index.ids[n - 1], 100.0, True)
    scores, touched = _phrase_scores(info, index)
    _drop_subsumed(scores)
    verdict = _verdict(index, {o: s.score for o, s in scores.items()})
    if verdict is not None and verdict.sure:
        return verdict
    if index.ranges:
        by_value = _by_range(info, text, index, touched)
        if by_value is not None:
            return by_value
    if verdict is not None:
        return verdict
    return _fuzzy_whole(info, index)


def match_option(text: str, options: Options | OptionIndex) -> OptionMatch | None:
    """The option a typed answer names, with a score 0..100 and whether it is sure.

    options: (option id, every label and synonym in every language) in the
    order shown, so "2" picks the second. The index is built once per distinct
    options tuple and cached; pass `build_option_index(options)` to skip even
    the cache look-up.
    """
    return match_option_indexed(text, option_index(options))


# ----------------------------------------------------------------------------- multiple choice
_LIST_COMMA = re.compile(r"(\d)\s*[,;/]\s*(?=\d)")


def _parts(info: TextInfo) -> list[tuple[int, int]]:
    """Token ranges [a, b) between commas and conjunctions."""
    parts = []
    start = 0
    for i, tok in enumerate(info.tokens):
        if tok in CONJUNCTIONS:
            if start < i:
                parts.append((start, i))
            start = i + 1
        elif i > start and info.clauses[i] != info.clauses[i - 1]:
            parts.append((start, i))
            start = i
    if start < len(info.tokens):
        parts.append((start, len(info.tokens)))
    return parts


def match_options_indexed(text: str, index: OptionIndex) -> tuple[str, ...] | None:
    """`match_options` with a prebuilt index."""
    if not text or not index.ids:
        return None
    try:
        return index.multi_results[text]
    except KeyError:
        pass
    found = _match_options(text, index)
    remember(index.multi_results, text, found)
    return found


def _match_options(text: str, index: OptionIndex) -> tuple[str, ...] | None:
    info = analyze(_LIST_COMMA.sub(r"\1, ", text))  # "1,3" lists two options here
    if not info.tokens:
        return None
    exact = index.exact.get(info.norm)
    if exact and len(exact) == 1:
        return (index.ids[exact[0]],)
    chosen: set[int] = set()
    covered: set[int] = set()
    # labels found whole in the text, a longer one hiding those inside it
    ix = index.phrases
    found: dict[int, _Scored] = {}
    for v, by_word in word_hits(info, ix).items():
        hit = find_in_order(info, ix, v, by_word)
        if hit is None:
            continue
        opt = index.phrase_option[ix.owner[v]]
        old = found.get(opt)
        if old is None or (hit.end - hit.start) > (old.end - old.start):
            found[opt] = _Scored(hit.quality, hit.start, hit.end)
    _drop_subsumed(found)
    for opt, s in found.items():
        chosen.add(opt)
        covered.update(range(s.start, s.end + 1))
    # the rest part by part: option numbers, or a part naming one option
    for a, b in _parts(info):
        if covered.intersection(range(a, b)):
            continue
        part = info.tokens[a:b]
        if all(t.isdigit() for t in part):
            nums = [int(t) for t in part if len(t) <= 3]
            if nums and all(1 <= k <= len(index.ids) for k in nums):
                chosen.update(k - 1 for k in nums)
                continue
        m = match_option_indexed(" ".join(part), index)
        if m is not None and m.sure:
            chosen.add(index.ids.index(m.option_id))
    if not chosen:
        return None
    return tuple(index.ids[o] for o in sorted(chosen))


def match_options(text: str, options: Options | OptionIndex) -> tuple[str, ...] | None:
    """Options a multiple-choice answer names ("1, 3", "crm and email"), in the
    options' order; None if it names none."""
    return match_options_indexed(text, option_index(options))
