"""Numbers as prospects type them: "50k", "$50,000", "50 000", "1,5 млн", "10-50".

`parse_number` reads the first number (or range, as its midpoint) in raw text.
`parse_bounds` reads a range label such as "11-50", "200+", "up to 10" for
option matching. Both take raw text: normalising would lose "1,5" vs "1, 5".
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache

from flows.answers.text import normalize

_ZW = dict.fromkeys([0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, 0x00AD])
_DASHES = str.maketrans({"–": "-", "—": "-", "−": "-", "‒": "-", "\u00a0": " ", "\u202f": " "})

_MULT_WORDS = (
    (1e3, r"k|к|тыс\w*|тыщ\w*|thousands?|grand"),
    (1e6, r"mm|mln|mio|mil|millions?|m|млн\w*|миллион\w*|лям\w*"),
    (1e9, r"bn|b|billions?|млрд\w*|миллиард\w*"),
)
_MULT_RE = "|".join(f"(?P<m{i}>{alt})" for i, (_, alt) in enumerate(_MULT_WORDS))

_NUMBER = re.compile(
    r"(?<![\d.,])"
    r"(?P<num>"
    r"\d{1,3}(?:[ ]\d{3})+(?![\d.,]\d)"  # 50 000, 1 500 000
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])"  # 50,000 / 1,000,000.5
    r"|\d{1,3}(?:\.\d{3}){2,}(?:,\d+)?(?![\d.])"  # 1.000.000 / 1.000.000,5
    r"|\d{1,3}(?:\.\d{3})+,\d+(?![\d.,])"  # 1.234,5
    r"|\d+(?:[.,]\d+)?"  # 12 / 1.5 / 1,5 / 1,500 handled below
    r")"
    r"(?:\s*(?:" + _MULT_RE + r")(?![\w]))?",
    re.IGNORECASE,
)
# what may stand between two numbers of a range
_RANGE_JOIN = re.compile(r"\s*(?:-|\.\.\.?|…|~|to|до|по|or|или)\s*")
_BETWEEN = re.compile(r"(?:between|между|from|от)\s*$")
_AND_JOIN = re.compile(r"\s*(?:and|и)\s*$")

_OPEN_UP = re.compile(
    r"(?:more than|over|above|at least|from|starting|min(?:imum)?|больше|более|свыше|от|не менее|"
    r"минимум|>|>=)\s*$"
)
_OPEN_DOWN = re.compile(
    r"(?:less than|under|below|up to|upto|at most|max(?:imum)?|fewer than|до|меньше|менее|"
    r"не более|максимум|<|<=)\s*$"
)


def _prep(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return text.translate(_ZW).translate(_DASHES)


def _to_float(num: str) -> float | None:
    num = num.replace(" ", "")
    if "," in num and "." in num:
        # the later separator is the decimal one: 1,234.5 / 1.234,5
        if num.rfind(",") > num.rfind("."):
            num = num.replace(".", "").replace(",", ".")
        else:
            num = num.replace(",", "")
    elif num.count(",") > 1:
        num = num.replace(",", "")
    elif "," in num:
        head, tail = num.split(",")
        # "50,000" groups thousands; "1,5" is a Russian decimal
        num = head + tail if len(tail) == 3 and len(head) <= 3 else head + "." + tail
    elif num.count(".") > 1:
        num = num.replace(".", "")
    try:
        value = float(num)
    except ValueError:  # pragma: no cover - the regex only lets digits through
        return None
    return value if math.isfinite(value) else None


def _mult(match: re.Match[str]) -> float:
    for i, (factor, _) in enumerate(_MULT_WORDS):
        if match.group(f"m{i}"):
            return factor
    return 1.0


# number words, for answers such as "two hundred", "пять тысяч", "полтора миллиона"
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12, "couple": 2, "few": 3,
    "several": 3, "half": 0.5,
    "ноль": 0, "один": 1, "одна": 1, "одно": 1, "одну": 1, "одного": 1, "два": 2, "две": 2,
    "двух": 2, "три": 3, "трех": 3, "четыре": 4, "пять": 5, "шесть": 6, "семь": 7,
    "восемь": 8, "девять": 9, "десять": 10, "одиннадцать": 11, "двенадцать": 12,
    "пятнадцать": 15, "двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50,
    "шестьдесят": 60, "семьдесят": 70, "восемьдесят": 80, "девяносто": 90, "сто": 100,
    "двести": 200, "триста": 300, "четыреста": 400, "пятьсот": 500, "шестьсот": 600,
    "семьсот": 700, "восемьсот": 800, "девятьсот": 900, "пара": 2, "пару": 2,
    "несколько": 3, "полтора": 1.5, "полторы": 1.5, "пол": 0.5, "десяток": 10,
    "десятка": 10, "сотня": 100, "сотни": 100, "дюжина": 12,
    "тринадцать": 13, "четырнадцать": 14, "шестнадцать": 16, "семнадцать": 17,
    "восемнадцать": 18, "девятнадцать": 19,
    # collective numerals: "нас двое", "четверо менеджеров"
    "двое": 2, "трое": 3, "четверо": 4, "пятеро": 5, "шестеро": 6, "семеро": 7,
    "двоих": 2, "троих": 3, "четверых": 4, "пятерых": 5, "нескольких": 3,
}  # fmt: skip
# genitive, dative and prepositional forms: "в течение пяти дней", "до двадцати человек"
RU_OBLIQUE_NUMBERS = {
    "одного": 1, "одной": 1, "двух": 2, "трех": 3, "четырех": 4, "пяти": 5, "шести": 6,
    "семи": 7, "восьми": 8, "девяти": 9, "десяти": 10, "одиннадцати": 11, "двенадцати": 12,
    "тринадцати": 13, "четырнадцати": 14, "пятнадцати": 15, "шестнадцати": 16,
    "семнадцати": 17, "восемнадцати": 18, "девятнадцати": 19, "двадцати": 20,
    "тридцати": 30, "сорока": 40, "пятидесяти": 50, "шестидесяти": 60, "семидесяти": 70,
    "восьмидесяти": 80, "девяноста": 90, "ста": 100, "двухсот": 200, "трехсот": 300,
    "четырехсот": 400, "пятисот": 500, "шестисот": 600, "семисот": 700, "восьмисот": 800,
    "девятисот": 900, "двум": 2, "трем": 3, "четырем": 4, "двумя": 2, "тремя": 3,
    "четырьмя": 4,
}  # fmt: skip
_UNITS.update(RU_OBLIQUE_NUMBERS)
_SCALES = {"hundred": 100, "hundreds": 100}
_BIG = (
    ("thousand", 1e3), ("тысяч", 1e3), ("тыс", 1e3), ("million", 1e6), ("миллион", 1e6),
    ("млн", 1e6), ("billion", 1e9), ("миллиард", 1e9), ("млрд", 1e9),
)  # fmt: skip
_ABBREVIATIONS = frozenset({"тыс", "млн", "млрд"})  # need a count before them
_GLUE = frozenset({"and", "a", "an", "of", "и"})


def _big(word: str) -> float | None:
    for stem, factor in _BIG:
        if word.startswith(stem) and len(word) - len(stem) <= 3:
            return factor
    return None


def words_number(text: str) -> float | None:
    """The first run of number words in text ("twenty five", "две тысячи"), or None."""
    total = 0.0
    current = 0.0
    seen = False
    for word in normalize(text).split():
        if word in _UNITS:
            current += _UNITS[word]
            seen = True
        elif word in _SCALES and seen:
            current = max(current, 1) * _SCALES[word]
        elif (factor := _big(word)) is not None and (seen or word not in _ABBREVIATIONS):
            total += max(current, 1) * factor
            current = 0
            seen = True
        elif word in _GLUE:
            continue
        elif seen:
            break
    if not seen:
        return None
    return total + current


def _numbers(text: str) -> list[tuple[int, int, float, float]]:
    """(start, end, value without multiplier, multiplier) of every number in prepped text."""
    out = []
    for m in _NUMBER.finditer(text):
        value = _to_float(m.group("num"))
        if value is not None:
            out.append((m.start(), m.end(), value, _mult(m)))
        if len(out) >= 3:
            break
    return out


# a multiplier before the number: "тысяч 60" (about 60 thousand), "миллиона на 2"
_MULT_BEFORE = re.compile(
    r"(?<!\w)(?:(?P<k>тысяч\w*|тыщ\w*|тыс)|(?P<m>миллион\w*|млн|лям\w*)|(?P<b>миллиард\w*|млрд))"
    r"\.?\s*(?:на|в|за|где[ -]?то|примерно|около)?\s*$"
)


def _mult_before(text: str) -> float:
    m = _MULT_BEFORE.search(text)
    if m is None:
        return 1.0
    return 1e3 if m["k"] else 1e6 if m["m"] else 1e9


def _first_range(text: str) -> tuple[float, float, int, int] | None:
    """(low, high, start, end) of the first number or range in text."""
    nums = _numbers(text)
    if not nums:
        return None
    s1, e1, v1, m1 = nums[0]
    if m1 == 1.0 and s1 and (before := _mult_before(text[:s1])) != 1.0:
        m1 = before
        if len(nums) > 1 and nums[1][3] == 1.0:
            nums[1] = (*nums[1][:3], before)  # "тысяч 60-70"
    if len(nums) > 1:
        s2, e2, v2, m2 = nums[1]
        between = text[e1:s2]
        joined = bool(_RANGE_JOIN.fullmatch(between)) or (
            bool(_AND_JOIN.fullmatch(between)) and bool(_BETWEEN.search(text[:s1]))
        )
        if joined:
            if m1 == 1.0 and m2 != 1.0 and v1 < v2:
                m1 = m2  # "10-50k" is 10k to 50k
            lo, hi = v1 * m1, v2 * m2
            return (min(lo, hi), max(lo, hi), s1, e2)
    return (v1 * m1, v1 * m1, s1, e1)


@lru_cache(maxsize=2048)
def parse_number(text: str) -> float | None:
    """The number in a typed answer, a range as its midpoint; None if there is none."""
    if not text:
        return None
    prepped = _prep(text[:1000])
    found = _first_range(prepped)
    if found is None:
        value = words_number(prepped)
    else:
        lo, hi, _, _ = found
        value = (lo + hi) / 2
    if value is None or not math.isfinite(value):
        return None
    return value


def parse_bounds(text: str) -> tuple[float, float] | None:
    """A label's range: "11-50" (11, 50), "200+" (200, inf), "up to 10" (0, 10)."""
    if not text:
        return None
    prepped = _prep(text[:200])
    found = _first_range(prepped)
    if found is None:
        return None
    lo, hi, start, end = found
    if lo != hi:
        return (lo, hi)
    before = prepped[:start]
    if _OPEN_UP.search(before) or prepped[end:].lstrip().startswith("+"):
        return (lo, math.inf)
    if _OPEN_DOWN.search(before):
        return (0.0, lo)
    return (lo, lo)
