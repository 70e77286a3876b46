"""When the prospect means to act, as days from today.

Spans count their length ("in 2 weeks" 14, "within a quarter" 91, "полгода"
182); named dates count to their start ("Q3", "in March", "2027", "15.03.2027";
a month or quarter already under way is 0); "end of year" and "this month"
count to the end. Past dates are 0, and everything is capped at SOMEDAY_DAYS,
which is also what "some day", "not soon" and "никогда" mean. None when the
text names no time ("не знаю" is the caller's to handle).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, timedelta
from functools import lru_cache

from flows.answers.number import RU_OBLIQUE_NUMBERS, words_number
from flows.answers.text import normalize

SOMEDAY_DAYS = 3650

_ZW = dict.fromkeys([0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, 0x00AD])
_DASHES = str.maketrans({"–": "-", "—": "-", "−": "-", "\u00a0": " ", "\u202f": " "})


def _prep(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return " ".join(text.translate(_ZW).translate(_DASHES).split())


def _cap(days: float) -> int:
    return int(max(0, min(SOMEDAY_DAYS, round(days))))


def _until(target: date, today: date) -> int:
    return _cap((target - today).days)


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _quarter_of(d: date) -> int:
    return (d.month - 1) // 3 + 1


# ----------------------------------------------------------------------------- explicit dates
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_DMY = re.compile(r"(?<![\d.])(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})(?![\d.])")
_DM = re.compile(r"(?<![\d.,])(\d{1,2})\.(\d{2})(?![\d.,])(?!\s*(?:k|к|m|млн|тыс|%))")


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _explicit_date(text: str, today: date) -> int | None:
    m = _ISO.search(text)
    if m:
        d = _make(int(m[1]), int(m[2]), int(m[3]))
        if d:
            return _until(d, today)
    m = _DMY.search(text)
    if m:
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        year += 2000 if year < 100 else 0
        # 15.03.2027 is day first; 03/15/2027 can only be month first
        day, month = (b, a) if b > 12 and a <= 12 else (a, b)
        d = _make(year, month, day)
        if d:
            return _until(d, today)
    m = _DM.search(text)
    if m:
        d = _make(today.year, int(m[2]), int(m[1]))
        if d:
            if d < today:
                d = _make(today.year + 1, d.month, d.day) or d
            return _until(d, today)
    return None


# ----------------------------------------------------------------------------- fixed phrases
def _phrases(*items: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(items) + r")(?!\w)")


_SOMEDAY = _phrases(
    r"some ?day", r"some ?time", r"one day", r"eventually", r"never", r"not (?:any ?time )?soon",
    r"not in the near future", r"not (?:this|next) year", r"no plans?", r"not planned",
    r"not urgent(?:ly)?", r"not a priority", r"not now", r"in the (?:distant |far )?future",
    r"когда[ -]?(?:нибудь|то)", r"не скоро", r"нескоро", r"никогда", r"не сейчас",
    r"не срочно", r"не горит", r"не в ближайшее время",
    r"в (?:отдаленном |далеком )?будущем(?! году| месяце| квартале)",
    r"не планируем", r"не планирую", r"нет планов", r"пока не планиру\w*", r"не в этом году",
)  # fmt: skip
_NOW = _phrases(
    r"asap", r"a\.s\.a\.p\.?", r"as soon as possible", r"urgent(?:ly)?", r"immediately",
    r"right now", r"right away", r"now", r"today", r"tonight", r"yesterday",
    r"срочно", r"вчера", r"сегодня", r"сейчас", r"немедленно",
    r"как можно (?:скорее|быстрее|раньше)",
    r"прямо сейчас", r"горит", r"уже", r"срочняк", r"безотлагательно",
)  # fmt: skip
_TOMORROW = _phrases(r"tomorrow", r"завтра")
_AFTER_TOMORROW = _phrases(r"(?:the )?day after tomorrow", r"послезавтра")
_SOON = _phrases(
    r"soon", r"shortly", r"in the near future", r"скоро", r"в ближайшее время",
    r"в ближайшем будущем", r"на днях", r"вскоре",
)  # fmt: skip

# "this/next <period>", "end of <period>"
_PERIOD = r"(?P<period>week|month|quarter|year|недел\w*|месяц\w*|квартал\w*|год\w*)"
_THIS = re.compile(
    r"(?<!\w)(?:this|current|(?:by )?(?:the )?end of(?: the| this)?|(?:на|в) (?:этой|этом|этот|"
    r"текущ\w*)|(?:до|к|в) конц[уае](?: этого| этой| текущего)?|конец(?: этого)?|на(?= недел[еи]))"
    r"\s+" + _PERIOD + r"(?!\w)"
)
# "by the end of next month", "до конца следующего месяца": to the end of the next period
_END_OF_NEXT = re.compile(
    r"(?<!\w)(?:(?:the )?end of(?: the)?|(?:до|к|в) конц[уае]|конец)\s+"
    r"(?:next|following|следующ\w*|будущ\w*)\s+" + _PERIOD + r"(?!\w)"
)
_NEXT = re.compile(
    r"(?<!\w)(?:next|following|(?:на |в )?(?:следующ\w*|след\.?|будущ\w*))\s*" + _PERIOD + r"(?!\w)"
)
_NEW_YEAR = _phrases(r"(?:до|к) нового года", r"(?:by |before )?(?:the )?new year", r"year[- ]end")

# ----------------------------------------------------------------------------- spans
_UNIT_DAYS = (
    (r"hours?|hrs?|час\w*|minutes?|mins?|минут\w*", 0),
    (r"days?|дн(?:я|ей|ям)?|день|сут(?:ки|ок)", 1),
    (r"weeks?|wks?|недел\w*", 7),
    (r"months?|mos?|mths?|месяц\w*|мес", 30),
    (r"quarters?|qtrs?|квартал\w*", 91),
    (r"years?|yrs?|год(?:а|ик|ом|у)?|лет", 365),
)
_UNIT_RE = "|".join(f"(?P<u{i}>{alt})" for i, (alt, _) in enumerate(_UNIT_DAYS))
_NUM = r"\d+(?:[.,]\d+)?"
_COUNT_WORDS = (
    r"a couple of|couple of|a few|few|several|a|an|one|two|three|four|five|six|seven|eight|"
    r"nine|ten|eleven|twelve|fifteen|twenty|thirty|half an?|half|пару|пара|несколько|"
    r"нескольких|один|одну|одна|два|две|три|четыре|пять|шесть|семь|восемь|девять|десять|"
    r"одиннадцать|двенадцать|пятнадцать|двадцать|тридцать|сорок|полтора|полторы|полутора|"
    # genitive and prepositional: "в течение пяти дней", "в пределах двух недель"
    + "|".join(sorted(RU_OBLIQUE_NUMBERS, key=len, reverse=True))
)
# ones after tens: "twenty five days", "двадцати пяти дней"
_ONES = (
    r"one|two|three|four|five|six|seven|eight|nine|один|одна|одну|два|две|три|четыре|пять|"
    r"шесть|семь|восемь|девять|одного|одной|двух|трех|четырех|пяти|шести|семи|восьми|девяти"
)
_SPAN = re.compile(
    r"(?<!\w)(?:(?P<a>" + _NUM + r")(?:\s*(?:-|to|до|или|or)\s*(?P<b>" + _NUM + r"))?|"
    r"(?P<w>(?:" + _COUNT_WORDS + r")(?:[\s-]+(?:" + _ONES + r"))?))?\s*(?:" + _UNIT_RE + r")(?!\w)"
)
_HALF_YEAR = _phrases(r"пол ?года", r"полугод\w*", r"half (?:a )?year", r"half-year", r"6 mo")
_HALF_MONTH = _phrases(r"пол ?месяца", r"half (?:a )?month")
_AGO = _phrases(r"ago", r"назад")

# ----------------------------------------------------------------------------- quarters
_ORD_EN = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_YEAR_AFTER = r"(?:\s*(?:of\s+|/\s*|'|’|,\s*)?(?P<year>\d{4}|(?<=['’])\d{2}))?"
_QUARTER = re.compile(
    r"(?<!\w)(?:"
    r"q\s?(?P<q1>[1-4])"
    r"|(?P<q2>[1-4])\s?q"
    r"|(?P<q3>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter"
    r"|quarter\s+(?P<q4>[1-4])"
    r"|(?P<q5>[1-4]|i{1,3}|iv)(?:-?(?:й|ый|ий|ом|ем|м))?\s+(?:кв\.?|квартал(?:е|у)?)(?!\w)"
    r"|(?P<q6>перв|втор|трет|четверт)\w*\s+квартал(?:е|у)?"
    r")(?!\w)" + _YEAR_AFTER
)
_RU_ORD = {"перв": 1, "втор": 2, "трет": 3, "четверт": 4}

# ----------------------------------------------------------------------------- months and weekdays
_MONTHS = (
    (("january", "jan"), "январ"), (("february", "feb"), "феврал"), (("march", "mar"), "март"),
    (("april", "apr"), "апрел"), (("may",), "ма"), (("june", "jun"), "июн"),
    (("july", "jul"), "июл"), (("august", "aug"), "август"),
    (("september", "sept", "sep"), "сентябр"), (("october", "oct"), "октябр"),
    (("november", "nov"), "ноябр"), (("december", "dec"), "декабр"),
)  # fmt: skip
_DAY = re.compile(r"(\d{1,2})(?:st|nd|rd|th|го|е)?")
_RU_MAY = frozenset({"май", "мая", "мае", "маю", "маем"})
_WEEKDAYS = (
    ("monday", "понедельник"), ("tuesday", "вторник"), ("wednesday", "сред"),  # сред: exact forms
    ("thursday", "четверг"), ("friday", "пятниц"), ("saturday", "суббот"),
    ("sunday", "воскресен"),
)  # fmt: skip
_RU_WEDNESDAY = frozenset({"среда", "среду", "среды", "среде"})  # not "среди"
_EN_MAY_CUES = frozenset(
    {"in", "by", "until", "till", "before", "early", "mid", "late", "end", "of"}
)
_END_CUES = frozenset({"end", "late", "конец", "конце", "концу", "конца"})
_MID_CUES = frozenset({"mid", "middle", "середина", "середине", "середины", "середину"})


def _month_of(words: list[str], i: int) -> int | None:
    w = words[i]
    for month, (en, ru) in enumerate(_MONTHS, start=1):
        if w in en:
            if w == "may" and not (
                len(words) == 1
                or (i > 0 and (words[i - 1] in _EN_MAY_CUES or words[i - 1].isdigit()))
                or (i + 1 < len(words) and words[i + 1].isdigit())
            ):
                return None  # "we may start" is not a month
            return month
        if month == 5:
            if w in _RU_MAY:
                return 5
        elif w.startswith(ru) and len(w) - len(ru) <= 3:
            return month
    return None


def _by_month(words: list[str], today: date) -> int | None:
    for i in range(len(words)):
        month = _month_of(words, i)
        if month is None:
            continue
        day = None
        for j in (i - 1, i + 1):
            m = _DAY.fullmatch(words[j]) if 0 <= j < len(words) else None
            if m and 1 <= int(m[1]) <= 31:
                day = int(m[1])
                break
        year = None
        for j in (i + 1, i + 2):
            if 0 <= j < len(words) and len(words[j]) == 4 and words[j].isdigit():
                year = int(words[j])
                break
        before = set(words[max(0, i - 3) : i])
        if year is None:
            year = today.year
            passed = month == today.month and day is not None and day < today.day
            if month < today.month or passed:
                year += 1
        first = _make(year, month, 1)
        if first is None:
            return None
        if day is not None:
            target = _make(year, month, day) or first
        elif before & _END_CUES:
            target = _month_end(first)
        elif before & _MID_CUES:
            target = first.replace(day=15)
        else:
            target = first
        return _until(target, today)
    return None


def _by_weekday(words: list[str], today: date) -> int | None:
    for w in words:
        for wd, (en, ru) in enumerate(_WEEKDAYS):
            if w == en or (
                w in _RU_WEDNESDAY if wd == 2 else w.startswith(ru) and len(w) - len(ru) <= 3
            ):
                return (wd - today.weekday()) % 7
    return None


def _by_quarter(text: str, today: date) -> int | None:
    m = _QUARTER.search(text)
    if not m:
        return None
    raw = next(g for g in (m["q1"], m["q2"], m["q3"], m["q4"], m["q5"], m["q6"]) if g)
    if raw.isdigit():
        q = int(raw)
    elif raw in _ORD_EN:
        q = _ORD_EN[raw]
    elif raw in _ROMAN:
        q = _ROMAN[raw]
    else:
        q = _RU_ORD[raw]
    year_txt = m["year"]
    if year_txt:
        year = int(year_txt) + (2000 if len(year_txt) == 2 else 0)
        start = _make(year, 3 * (q - 1) + 1, 1)
        return _until(start, today) if start else None
    if q == _quarter_of(today):
        return 0
    year = today.year if q > _quarter_of(today) else today.year + 1
    return _until(date(year, 3 * (q - 1) + 1, 1), today)


def _period_end(period: str, today: date) -> int:
    if period.startswith(("week", "недел")):
        return 6 - today.weekday()
    if period.startswith(("month", "месяц")):
        return _until(_month_end(today), today)
    if period.startswith(("quarter", "квартал")):
        q = _quarter_of(today)
        return _until(_month_end(date(today.year, 3 * q, 1)), today)
    return _until(date(today.year, 12, 31), today)


def _next_period_end(period: str, today: date) -> int:
    if period.startswith(("week", "недел")):
        return 13 - today.weekday()
    if period.startswith(("month", "месяц")):
        first_next = _month_end(today) + timedelta(days=1)
        return _until(_month_end(first_next), today)
    if period.startswith(("quarter", "квартал")):
        q = _quarter_of(today) + 1
        year = today.year + (q > 4)
        q = (q - 1) % 4 + 1
        return _until(_month_end(date(year, 3 * q, 1)), today)
    return _until(date(today.year + 1, 12, 31), today)


def _period_len(period: str) -> int:
    if period.startswith(("week", "недел")):
        return 7
    if period.startswith(("month", "месяц")):
        return 30
    if period.startswith(("quarter", "квартал")):
        return 91
    return 365


_COUNTS = {
    "a": 1, "an": 1, "one": 1, "один": 1, "одну": 1, "одна": 1, "couple of": 2,
    "a couple of": 2, "пару": 2, "пара": 2, "a few": 3, "few": 3, "several": 3,
    "несколько": 3, "half": 0.5, "half a": 0.5, "half an": 0.5,
}  # fmt: skip


def _by_span(text: str) -> int | None:
    m = _HALF_YEAR.search(text)
    if m:
        return 182
    m = _HALF_MONTH.search(text)
    if m:
        return 15
    for m in _SPAN.finditer(text):
        unit = next(i for i in range(len(_UNIT_DAYS)) if m[f"u{i}"])
        per = _UNIT_DAYS[unit][1]
        if m["a"]:
            a = float(m["a"].replace(",", "."))
            if per == 365 and a >= 1900:
                continue  # "в 2027 году" is a year, not 2027 years
            count = (a + float(m["b"].replace(",", "."))) / 2 if m["b"] else a
        elif m["w"]:
            word = m["w"]
            count = _COUNTS.get(word)
            if count is None:
                count = words_number(word) or 1
        else:
            count = 1
        return _cap(count * per)
    return None


_YEAR = re.compile(r"(?<![\d.,])(20\d\d)(?![\d.,])")


@lru_cache(maxsize=2048)
def parse_timeline(text: str, today: date) -> int | None:
    """Days from today until the prospect means to act; None if no time is named."""
    if not text:
        return None
    raw = _prep(text[:500])
    if not raw:
        return None
    found = _explicit_date(raw, today)
    if found is not None:
        return found
    if _SOMEDAY.search(raw):
        return SOMEDAY_DAYS
    found = _by_quarter(raw, today)
    if found is not None:
        return found
    if _NEW_YEAR.search(raw):
        return _until(date(today.year, 12, 31), today)
    m = _END_OF_NEXT.search(raw)
    if m:
        return _next_period_end(m["period"], today)
    m = _NEXT.search(raw)
    if m:
        return _period_len(m["period"])
    m = _THIS.search(raw)
    if m:
        return _period_end(m["period"], today)
    words = normalize(raw).split()
    if _AFTER_TOMORROW.search(raw):
        return 2
    if _TOMORROW.search(raw):
        return 1
    found = _by_span(raw)
    if found is not None:
        return 0 if _AGO.search(raw) else found
    found = _by_month(words, today)
    if found is not None:
        return found
    found = _by_weekday(words, today)
    if found is not None:
        return found
    m = _YEAR.search(raw)
    if m:
        year = int(m[1])
        return 0 if year <= today.year else _until(date(year, 1, 1), today)
    if _NOW.search(raw):
        return 0
    if _SOON.search(raw):
        return 30
    return None
