"""An option picked by its number: "2", "2.", "#2", "2)", "option 2", "второй", "second"."""

from __future__ import annotations

import re

from flows.answers.text import TextInfo

_PREFIXES = frozenset(
    {
        "option",
        "number",
        "no",
        "nr",
        "num",
        "choice",
        "answer",
        "вариант",
        "номер",
        "пункт",
        "ответ",
    }
)
_SUFFIXES = frozenset({"st", "nd", "rd", "th", "й", "я", "е", "ой", "ый", "ий"})
_DIGITS = re.compile(r"(?:no|nr|n)?(\d{1,2})(?:st|nd|rd|th|й|я|е|ой|ый|ий)?")
_ORDINALS_EN = {
    "one": 1, "first": 1, "two": 2, "second": 2, "three": 3, "third": 3, "four": 4,
    "fourth": 4, "five": 5, "fifth": 5, "six": 6, "sixth": 6, "seven": 7, "seventh": 7,
    "eight": 8, "eighth": 8, "nine": 9, "ninth": 9, "ten": 10, "tenth": 10,
}  # fmt: skip
_CARDINALS_RU = {
    "один": 1, "одна": 1, "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6,
    "семь": 7, "восемь": 8, "девять": 9, "десять": 10,
}  # fmt: skip
# ordinal stems: первый/первая/первое/первого...
_ORDINAL_STEMS_RU = (
    ("перв", 1), ("втор", 2), ("трет", 3), ("четверт", 4), ("пят", 5), ("шест", 6),
    ("седьм", 7), ("восьм", 8), ("девят", 9), ("десят", 10),
)  # fmt: skip


def _word_number(word: str) -> int | None:
    if word in _ORDINALS_EN:
        return _ORDINALS_EN[word]
    if word in _CARDINALS_RU:
        return _CARDINALS_RU[word]
    for stem, n in _ORDINAL_STEMS_RU:
        if word.startswith(stem) and 1 <= len(word) - len(stem) <= 3:
            return n
    return None


def picked_number(info: TextInfo) -> int | None:
    """The option number the whole text names, or None ("2 weeks" names none)."""
    tokens = list(info.tokens)
    if tokens and tokens[0] in _PREFIXES and len(tokens) > 1:
        tokens = tokens[1:]
    if tokens and tokens[-1] in ("please", "pls", "пожалуйста", "вариант", "option"):
        tokens = tokens[:-1]
    if len(tokens) == 2 and tokens[1] in _SUFFIXES:  # "2-й" became "2 й"
        tokens = tokens[:1]
    if len(tokens) != 1:
        return None
    word = tokens[0]
    m = _DIGITS.fullmatch(word)
    if m:
        return int(m.group(1))
    return _word_number(word)
