"""Word keys: how a typed word and a phrase word are found to be "the same word".

Each word gets a few string keys; a typed word and a phrase word match when they
share a key, so matching is set intersection and dict look-ups instead of
comparing every pair. Kinds, strongest first:

- exact      "=word"
- stem       "~stem" for ASCII words (a light English stemmer: approve/approved,
             price/prices/pricing, plan/planned)
- prefix     "^pre" / "+pre" for other alphabets (Russian, Polish...): the typed
             word and the phrase word share a stem of 3+ letters, the phrase word
             has at most 2 letters past it and the typed word at most 2 (3 when
             the phrase word has 5+ letters): бюджет ~ бюджета ~ бюджетом,
             утвержден ~ утвержденный, but not стол ~ столица
- typo       "?..." symmetric-delete keys for words of 5+ letters; a shared key is
             only a candidate, `typo_ok` confirms one edit (or one swap)

Digits match exactly only: "10" never fuzzily equals "100".
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz.distance import OSA

EXACT, STEM, TYPO = 0, 1, 2
WORD_SCORE = (1.0, 0.93, 0.85)  # by kind

_MAX_KEYED = 40  # longer "words" (pasted garbage) only match exactly
_VOWELS_LS = frozenset("aeiouls")


def en_stem(word: str) -> str:
    """A deliberately light English stemmer: only endings that rarely make homonyms."""
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in _VOWELS_LS:
        word = word[:-1]  # planned -> plann -> plan
    return word


def _deletes(word: str) -> list[str]:
    return ["?" + word] + ["?" + word[:i] + word[i + 1 :] for i in range(len(word))]


def _common(word: str) -> list[str]:
    keys = ["=" + word]
    if len(word) >= 4 and word.isascii() and word.isalpha():
        keys.append("~" + en_stem(word))
    return keys


_NONE: frozenset[str] = frozenset()


@lru_cache(maxsize=65536)
def text_word_keys(word: str) -> tuple[frozenset[str], frozenset[str]]:
    """(exact, stem and prefix keys; typo keys) of a word the prospect typed.

    Cached: the same words recur in every chat. The typo keys are only looked at
    when the strong ones found nothing, so "manager" is never also a typo of "manages".
    """
    keys = _common(word)
    n = len(word)
    if n < 4 or n > _MAX_KEYED or not word.isalpha():
        return frozenset(keys), _NONE
    if not word.isascii():
        for k in range(max(3, n - 3), n + 1):
            keys.append(("^" if n - k <= 2 else "+") + word[:k])
    return frozenset(keys), frozenset(_deletes(word))


@lru_cache(maxsize=16384)
def phrase_word_keys(word: str) -> tuple[tuple[str, int], ...]:
    """Keys of a word in a phrase or label, each with the kind of match it proves."""
    out = [(k, EXACT if k[0] == "=" else STEM) for k in _common(word)]
    n = len(word)
    if n < 4 or n > _MAX_KEYED or not word.isalpha():
        return tuple(out)
    if not word.isascii():
        for k in range(max(3, n - 2), n + 1):
            out.append(("^" + word[:k], STEM))
            if n >= 5:
                out.append(("+" + word[:k], STEM))
    if n >= 5:
        out.extend((k, TYPO) for k in _deletes(word))
    return tuple(out)


def typo_ok(typed: str, word: str) -> bool:
    """One edit or one swap apart; a 5-6 letter word must also keep its first letter."""
    if len(typed) < 4:
        return False
    if len(word) < 7 and typed[0] != word[0]:
        return False
    return OSA.distance(typed, word, score_cutoff=1) <= 1
