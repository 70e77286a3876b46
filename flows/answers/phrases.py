"""Finding phrases in a typed text: the core that keyword rules and options share.

A phrase is found when all its words (articles optional) appear in order in one
clause of the text, with at most MAX_GAP words between two of them, and no
negation right before it, inside it or right after it (but "ничего не" is one
negation, not two). Words match exactly, by stem (English, Russian endings) or
prefix (other alphabets), or with one typo (see `wordkeys`).

`PhraseIndex` is built once per phrase list (cached by the tuple) and holds
every phrase word's keys in one dict: a typed word is looked up by its own keys
(set intersection), and what it matched is memoised per index, so after
warm-up a typed word costs one dict look-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from flows.answers.text import TextInfo, analyze, normalize
from flows.answers.vocabulary import (
    ALL_NEGATIONS,
    ARTICLES,
    MAX_GAP,
    NEAR_NEGATIONS,
    NEAR_WINDOW,
    NEGATION_WINDOW,
    NEGATIONS,
    NEGATIVE_PRONOUNS,
    STOPWORDS,
    TRAILING_NEGATIONS,
)
from flows.answers.wordkeys import TYPO, WORD_SCORE, phrase_word_keys, text_word_keys, typo_ok

# (variant, word position, kind) entries behind one key
_Entry = tuple[int, int, int]


@dataclass(frozen=True, slots=True, eq=False)
class PhraseIndex:
    """Precomputed phrases. A variant is one way of writing a phrase: its words,
    and for a multi-word phrase also the words glued ("price list" ~ "pricelist")."""

    phrases: tuple[str, ...]
    owner: tuple[int, ...]  # variant -> index into phrases
    words: tuple[tuple[str, ...], ...]  # variant -> its words
    required: tuple[tuple[bool, ...], ...]  # variant -> word must be present (articles need not)
    content: tuple[tuple[bool, ...], ...]  # variant -> word carries meaning (not a stopword)
    guarded: tuple[bool, ...]  # variant -> a negation around it cancels it
    keys: dict[str, tuple[_Entry, ...]]
    keyset: frozenset[str]
    # typed word -> the (variant, word, score) pairs it matches: chats reuse words,
    # so after warm-up a token costs one look-up
    memo: dict[str, tuple[tuple[int, int, float], ...]] = field(default_factory=dict)
    # typed text -> the phrase found (or None): answers repeat across chats
    results: dict[str, str | None] = field(default_factory=dict)


def build_phrase_index(phrases: Sequence[str]) -> PhraseIndex:
    owner: list[int] = []
    words: list[tuple[str, ...]] = []
    keys: dict[str, list[_Entry]] = {}
    for pi, phrase in enumerate(phrases):
        ws = tuple(normalize(phrase).split())
        if not ws:
            continue
        # (words, shortest stem, typo keys): the glued form may only vary in
        # its last word's ending, never drop a short last word ("цена на" is not
        # "цена", "решаю я" not "решаю"), nor lose a one-letter word to a typo
        variants = [(ws, 0, True)]
        glued = "".join(ws)
        if len(ws) > 1 and len(glued) >= 6 and glued.isalpha():
            last = len(ws[-1])
            keep = len(glued) - last + min(last, 3)
            variants.append(((glued,), keep, min(map(len, ws)) >= 2))
        for variant, keep, typos in variants:
            vi = len(words)
            owner.append(pi)
            words.append(variant)
            for j, w in enumerate(variant):
                for key, kind in phrase_word_keys(w, keep, typos):
                    keys.setdefault(key, []).append((vi, j, kind))
    required = []
    content = []
    guarded = []
    for ws in words:
        req = tuple(w not in ARTICLES for w in ws)
        required.append(req if any(req) else tuple(True for _ in ws))
        con = tuple(w not in STOPWORDS for w in ws)
        content.append(con if any(con) else tuple(True for _ in ws))
        guarded.append(not any(w in ALL_NEGATIONS for w in ws))
    # one entry per (variant, word) behind a key, with the strongest kind it proves
    packed: dict[str, tuple[_Entry, ...]] = {}
    for key, entries in keys.items():
        best: dict[tuple[int, int], int] = {}
        for v, j, kind in entries:
            if (v, j) not in best or kind < best[(v, j)]:
                best[(v, j)] = kind
        packed[key] = tuple((v, j, kind) for (v, j), kind in best.items())
    return PhraseIndex(
        tuple(phrases),
        tuple(owner),
        tuple(words),
        tuple(required),
        tuple(content),
        tuple(guarded),
        packed,
        frozenset(packed),
    )


@lru_cache(maxsize=2048)
def _cached_index(phrases: tuple[str, ...]) -> PhraseIndex:
    return build_phrase_index(phrases)


def phrase_index(phrases: Sequence[str] | PhraseIndex) -> PhraseIndex:
    """The index for a phrase list, built once per distinct tuple of phrases."""
    if isinstance(phrases, PhraseIndex):
        return phrases
    if not isinstance(phrases, tuple):
        phrases = tuple(phrases)
    try:
        return _cached_index(phrases)
    except TypeError:  # unhashable items: build without caching
        return build_phrase_index(phrases)


# ----------------------------------------------------------------------------- word pairs
WordHits = dict[int, dict[int, dict[int, float]]]  # variant -> word -> text position -> score


# per-index memo sizes: bounded, since a long-lived process sees endless new texts
TOKEN_MEMO_MAX = 5_000
RESULT_MEMO_MAX = 2_048
RESULT_MEMO_CHARS = 256  # longer answers rarely repeat: not worth keeping


def _remember(memo: dict, key: str, value: object, limit: int) -> None:
    if len(memo) >= limit:
        memo.clear()  # cheap, and rare
    memo[key] = value


def remember(memo: dict, text: str, value: object) -> None:
    """Keep a typed text's result in a per-index memo (short texts only)."""
    if len(text) <= RESULT_MEMO_CHARS:
        _remember(memo, text, value, RESULT_MEMO_MAX)


def _token_pairs(index: PhraseIndex, token: str) -> tuple[tuple[int, int, float], ...]:
    """(variant, word, score) for every phrase word this typed word matches."""
    strong, typo = text_word_keys(token)
    best: dict[tuple[int, int], float] = {}
    keyset, keys = index.keyset, index.keys
    for key in keyset & strong:
        for v, j, kind in keys[key]:
            score = WORD_SCORE[kind]
            if best.get((v, j), 0.0) < score:
                best[(v, j)] = score
    if not best and typo:
        # a word found as itself is not also a typo of another
        for key in keyset & typo:
            for v, j, kind in keys[key]:
                if kind == TYPO and (v, j) not in best and typo_ok(token, index.words[v][j]):
                    best[(v, j)] = WORD_SCORE[TYPO]
    return tuple((v, j, s) for (v, j), s in best.items())


def word_hits(info: TextInfo, index: PhraseIndex) -> WordHits:
    """Every (phrase word, typed word) pair that matches, with its score."""
    hits: WordHits = {}
    memo = index.memo
    for pos, token in enumerate(info.tokens):
        pairs = memo.get(token)
        if pairs is None:
            pairs = _token_pairs(index, token)
            _remember(memo, token, pairs, TOKEN_MEMO_MAX)
        for v, j, score in pairs:
            by_variant = hits.get(v)
            if by_variant is None:
                hits[v] = {j: {pos: score}}
            else:
                by_word = by_variant.get(j)
                if by_word is None:
                    by_variant[j] = {pos: score}
                else:
                    by_word[pos] = score
    return hits


def negated(info: TextInfo, start: int, end: int) -> bool:
    """Is the span tokens[start..end] negated by a word before or right after it?

    After it, "бюджет не утвержден" and "бюджета нет" negate it; but a
    negation right after a negative pronoun is agreement, not a second
    negation: "ничего не изменится" still says "ничего"."""
    tokens, clauses = info.tokens, info.clauses
    clause = clauses[start]
    back = 0  # words looked at, articles not counted: "never asked for a demo"
    i = start - 1
    while i >= 0 and back < NEGATION_WINDOW and clauses[i] == clause:
        tok = tokens[i]
        i -= 1
        if tok in ARTICLES:
            continue
        back += 1
        if tok in NEGATIONS or (back <= NEAR_WINDOW and tok in NEAR_NEGATIONS):
            return True
    if tokens[end] in NEGATIVE_PRONOUNS:
        return False
    after = end + 1
    return after < len(tokens) and clauses[after] == clause and tokens[after] in TRAILING_NEGATIONS


class Found(NamedTuple):
    """One variant found in order in the text."""

    start: int
    end: int  # inclusive
    quality: float  # mean word score, 0..1, less a little per gap word


_GAP_COST = 0.03


def find_in_order(info: TextInfo, index: PhraseIndex, v: int, by_word: dict) -> Found | None:
    """The best in-order occurrence of variant v (all required words, small gaps)."""
    words = index.words[v]
    guarded = index.guarded[v]
    if len(words) == 1:  # the common case, kept short
        best = None
        for pos, s in by_word[0].items():
            if (best is None or s > best.quality) and not (guarded and negated(info, pos, pos)):
                best = Found(pos, pos, s)
        return best
    required = index.required[v]
    tokens, clauses = info.tokens, info.clauses
    # states: end position -> (score sum less gap costs, start, words used, gap words)
    states: dict[int, tuple[float, int, int, int]] | None = None
    for j in range(len(words)):
        cands = by_word.get(j)
        if not cands:
            if required[j]:
                return None
            continue
        if states is None:
            states = {pos: (s, pos, 1, 0) for pos, s in cands.items()}
            continue
        nxt: dict[int, tuple[float, int, int, int]] = {}
        for pos, s in cands.items():
            for prev in range(pos - 1, pos - 2 - MAX_GAP, -1):
                state = states.get(prev)
                if state is None or clauses[pos] != clauses[prev]:
                    continue
                total, start, used, gaps = state
                gap = pos - prev - 1
                if gap and any(tokens[i] in ALL_NEGATIONS for i in range(prev + 1, pos)):
                    continue
                cand = (total + s - gap * _GAP_COST, start, used + 1, gaps + gap)
                old = nxt.get(pos)
                if old is None or cand[0] > old[0]:
                    nxt[pos] = cand
        if not nxt:
            if required[j]:
                return None
            continue  # an optional article not found right there
        states = nxt
    if not states:
        return None
    found = None
    for end, (total, start, used, _) in states.items():
        quality = total / used
        if (found is None or quality > found.quality) and not (
            guarded and negated(info, start, end)
        ):
            found = Found(start, end, quality)
    return found


# ----------------------------------------------------------------------------- keyword rules
def matches_any_indexed(text: str, index: PhraseIndex) -> str | None:
    """The first phrase (in the list's order) found in the text, or None."""
    if not text or not index.keyset:
        return None
    try:
        return index.results[text]
    except KeyError:
        pass
    info = analyze(text)
    best_phrase = None
    for v, by_word in word_hits(info, index).items():
        owner = index.owner[v]
        if best_phrase is not None and owner >= best_phrase:
            continue
        if find_in_order(info, index, v, by_word) is not None:
            best_phrase = owner
    found = None if best_phrase is None else index.phrases[best_phrase]
    remember(index.results, text, found)
    return found


def matches_any(text: str, phrases: Sequence[str] | PhraseIndex) -> str | None:
    """Keyword rule: the phrase found in the text as whole words, or None.

    Case, punctuation, Russian endings and one typo in a 5+ letter word are
    tolerated; "no" never matches inside "know", and "not the budget" does not
    match "budget". With several phrases found, the first in the list wins.
    """
    return matches_any_indexed(text, phrase_index(phrases))
