"""Word keys: how a typed word and a phrase word are found to be "the same word".

Each word gets a few string keys; a typed word and a phrase word match when they
share a key, so matching is set intersection and dict look-ups instead of
comparing every pair. Kinds, strongest first:

- exact      "=word"
- stem       "~stem" for ASCII words (a light English stemmer: approve/approved,
             price/prices/pricing, plan/planned)
- stem       "%stem" for Russian words: each word is split into a stem and one
             of the known inflection endings (case, number, gender, adjective
             endings; "" too), the stem keeping at least half the word and 3+
             letters; two words match when they share such a stem, so only
             endings may differ: бюджет ~ бюджета ~ бюджетом, сделка ~ сделки ~
             сделок (a fleeting vowel), утвержден ~ утверждены ~ утвержденный,
             but not студия ~ студент, стол ~ столица. Verb person endings are
             not among them: решаю (I decide) is not решает (he decides)
- prefix     "^pre" / "+pre" for other non-Latin alphabets (Polish, Arabic...):
             the typed word and the phrase word share a stem of 3+ letters, the
             phrase word has at most 2 letters past it and the typed word at
             most 2 (3 when the phrase word has 5+ letters)
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

# ----------------------------------------------------------------------------- Russian stems
_CYRILLIC = frozenset("абвгдежзийклмнопрстуфхцчшщъыьэюя")
_ADJ_ENDINGS = frozenset(
    {"ый", "ий", "ой", "ая", "яя", "ое", "ее", "ые", "ие", "ого", "его", "ому", "ему", "ым",
     "им", "ых", "их", "ыми", "ими", "ую", "юю"}
)  # fmt: skip
# inflection endings that may differ between two forms of one word: case,
# number, gender and adjective endings
_RU_ENDINGS = frozenset(
    {
        "", "а", "я", "о", "е", "ы", "и", "у", "ю", "ь", "й",
        "ой", "ей", "ом", "ем", "ам", "ям", "ах", "ях", "ами", "ями", "ов", "ев", "ью",
        "ою", "ею",
        *_ADJ_ENDINGS,
    }
)  # fmt: skip
# verb person endings: a form only matches forms of the same person, so решаю
# (I decide) is not решает (he decides) nor решаем (we decide). -ю and -ем are
# also case endings; they count as a person only after -а/-я/-у (решаю, теряем).
_PERSON_ENDINGS = {
    "ешь": "2", "ишь": "2", "ете": "2", "ите": "2",
    "ет": "3", "ит": "3", "ут": "3", "ют": "3", "ат": "3", "ят": "3",
}  # fmt: skip
_FIRST_PERSON = {"ю": "1", "ем": "1p"}
_FIRST_PERSON_AFTER = frozenset("аяу")
_PERSONS = ("1", "1p", "2", "3")
# forms with no person: the infinitive and the past (решать, решал, решали)
_PAST = ("л", "ла", "ло", "ли")
_NEUTRAL_AFTER = frozenset("аяеиуы")
_REFLEXIVE_BASE = ("ть", *_PAST, *_PERSON_ENDINGS, "ю", "у", "ем", "им")
_RU_ENDING_MAX = 3
_FLEETING_AFTER = frozenset("кцнлрг")  # сделок ~ сделк(а), продавец ~ продавц(а)
_RU_VOWELS = frozenset("аеиоуыэюя")
_SIBILANTS = frozenset("жшчщ")


def is_russian(word: str) -> bool:
    return all(ch in _CYRILLIC for ch in word)


def _present_stems(stem: str) -> list[str]:
    """An infinitive's stem and the stems its present forms are built on:
    реши(ть) -> реш(у), смотре(ть) -> смотр(ю), автоматизирова(ть) ->
    автоматизиру(ю), продава(ть) -> прода(ют), слыша(ть) -> слыш(у)."""
    out = [stem]
    if stem[-1] in "ие" or (stem[-1] == "а" and stem[-2] in _SIBILANTS):
        out.append(stem[:-1])
    if stem.endswith(("ова", "ева")):
        out.append(stem[:-3] + ("у" if stem[-3] == "о" else "ю"))
    elif stem.endswith("ава"):
        out.append(stem[:-2])
    return out


@lru_cache(maxsize=16384)
def ru_stems(word: str, min_stem: int = 0) -> tuple[str, ...]:
    """Every stem key a Russian word may have: the word less one known ending.

    A stem keeps at least half the word, 3+ letters and `min_stem` letters.
    A verb person form gives "stem/person" instead of the bare stem; the
    infinitive and the past carry no person, so they give the bare stem and
    every person's key. A reflexive -ся/-сь is dropped first (теряются ~ теряют).
    """
    n = len(word)
    if n >= 6 and word.endswith(("ся", "сь")) and word[:-2].endswith(_REFLEXIVE_BASE):
        word, n = word[:-2], n - 2
    floor = max(3, (n + 1) // 2, min_stem)
    out: list[str] = []
    for k in range(min(_RU_ENDING_MAX, n - floor), -1, -1):
        ending = word[n - k :] if k else ""
        stem = word[: n - k]
        person = _PERSON_ENDINGS.get(ending)
        if person is None and stem[-1] in _FIRST_PERSON_AFTER:
            person = _FIRST_PERSON.get(ending)
        if person is not None:
            out.append(stem + "/" + person)
            continue
        if ending == "ть" or ending in _PAST:
            if stem[-1] in _NEUTRAL_AFTER:  # решать, решали: any person
                bases = _present_stems(stem) if ending == "ть" else [stem]
                for base in bases:
                    if len(base) >= floor or base == stem:
                        out.append(base)
                        out.extend(base + "/" + p for p in _PERSONS)
                continue
            if ending != "ть" and stem[-1] not in _RU_VOWELS:
                out.append(stem)  # вырос ~ выросли, мог ~ могли
                continue
        if ending not in _RU_ENDINGS or (stem.endswith(("ет", "ют")) and stem[-3] in "аяуе"):
            continue  # решает(е) is a verb, not a noun with a case ending
        out.append(stem)
        # утвержденн(ый) ~ утвержден(ы): a participle's long form doubles its н
        if ending in _ADJ_ENDINGS and stem.endswith("нн") and len(stem) - 1 >= max(5, floor):
            out.append(stem[:-1])
    if n >= 5 and n - 1 >= floor:
        # a fleeting vowel in a bare form: сделок ~ сделк(а), владелец ~ владельц(а)
        if word[-1] in _FLEETING_AFTER and word[-2] in "ое" and word[-3] not in _RU_VOWELS:
            out.append(word[:-2] + word[-1])
            if word[-2] == "е":
                out.append(word[:-2] + "ь" + word[-1])
        elif word.endswith("мя"):  # время ~ времени
            out.append(word[:-1] + "ен")
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=65536)
def text_word_keys(word: str) -> tuple[frozenset[str], frozenset[str]]:
    """(exact, stem and prefix keys; typo keys) of a word the prospect typed.

    Cached: the same words recur in every chat. The typo keys are only looked at
    when the strong ones found nothing, so "manager" is never also a typo of "manages".
    """
    keys = _common(word)
    n = len(word)
    if n < 4 or n > _MAX_KEYED or not word.isalpha():
        if n == 3 and is_russian(word):
            keys.append("%" + word)  # цен ~ цена, час ~ часов
        return frozenset(keys), _NONE
    if not word.isascii():
        if is_russian(word):
            keys.extend("%" + stem for stem in ru_stems(word))
        else:
            for k in range(max(3, n - 3), n + 1):
                keys.append(("^" if n - k <= 2 else "+") + word[:k])
    return frozenset(keys), frozenset(_deletes(word))


@lru_cache(maxsize=16384)
def phrase_word_keys(
    word: str, min_stem: int = 0, typos: bool = True
) -> tuple[tuple[str, int], ...]:
    """Keys of a word in a phrase or label, each with the kind of match it proves.

    `min_stem`: no stem or prefix shorter than this (a glued phrase, "ценана"
    for "цена на", must keep its last word); `typos`: typo keys at all.
    """
    out = [("=" + word, EXACT)]
    if len(word) >= 4 and word.isascii() and word.isalpha():
        stem = en_stem(word)
        if len(stem) >= min_stem:
            out.append(("~" + stem, STEM))
    n = len(word)
    if n < 4 or n > _MAX_KEYED or not word.isalpha():
        if n == 3 and min_stem <= 3 and is_russian(word):
            out.append(("%" + word, STEM))
        return tuple(out)
    if not word.isascii():
        if is_russian(word):
            out.extend(("%" + stem, STEM) for stem in ru_stems(word, min_stem))
        else:
            for k in range(max(3, n - 2, min_stem), n + 1):
                out.append(("^" + word[:k], STEM))
                if n >= 5:
                    out.append(("+" + word[:k], STEM))
    if n >= 5 and typos:
        out.extend((k, TYPO) for k in _deletes(word))
    return tuple(out)


def _other_form(typed: str, word: str) -> bool:
    """Two Russian words with one stem but different endings: решают / решаю."""
    if not (is_russian(typed) and is_russian(word)):
        return False
    bases = {k.partition("/")[0] for k in ru_stems(typed)}
    return any(k.partition("/")[0] in bases for k in ru_stems(word))


def typo_ok(typed: str, word: str) -> bool:
    """One edit or one swap apart; a 5-6 letter word must also keep its first letter.

    Another form of the same Russian word (an ending that the stem keys tell
    apart, such as the person of a verb) is not a typo of it.
    """
    if len(typed) < 4:
        return False
    if len(word) < 7 and typed[0] != word[0]:
        return False
    return OSA.distance(typed, word, score_cutoff=1) <= 1 and not _other_form(typed, word)
