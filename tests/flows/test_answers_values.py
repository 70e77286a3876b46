"""Typed numbers and timelines: parse_number, parse_timeline."""

from __future__ import annotations

from datetime import date

import pytest

from flows.answers import SOMEDAY_DAYS, parse_number, parse_timeline

# a Wednesday in the second quarter
TODAY = date(2026, 5, 20)


# -------------------------------------------------- parse_number
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("50k", 50_000),
        ("50K", 50_000),
        ("50 k", 50_000),
        ("$50,000", 50_000),
        ("50,000 USD", 50_000),
        ("1,000,000", 1_000_000),
        ("1,234.5", 1234.5),
        ("1.234,5", 1234.5),
        ("1.000.000 руб", 1_000_000),
        ("50 000", 50_000),
        ("50\u00a0000 ₽", 50_000),  # no-break space between groups
        ("1 500 000", 1_500_000),
        ("50 тыс", 50_000),
        ("50 тыс.", 50_000),
        ("50тыс", 50_000),
        ("50 тысяч", 50_000),
        ("50к", 50_000),
        ("1,5 млн", 1_500_000),
        ("1.5m", 1_500_000),
        ("1.5M", 1_500_000),
        ("2 million", 2_000_000),
        ("3 млрд", 3_000_000_000),
        ("2bn", 2_000_000_000),
        ("12.5", 12.5),
        ("1,5", 1.5),
        ("about 200", 200),
        ("около 200 человек", 200),
        ("~200", 200),
        ("10-50", 30),
        ("10 - 50", 30),
        ("10–50", 30),
        ("from 10 to 50", 30),
        ("от 10 до 50", 30),
        ("between 10 and 50", 30),
        ("10-50k", 30_000),  # the multiplier covers both ends
        ("500 to 2k", 1250),  # but not when the first number is bigger
        ("more than 1000", 1000),
        ("больше 1000", 1000),
        ("1000+", 1000),
        ("up to 10", 10),
        ("we are 25 people", 25),
        ("two hundred", 200),
        ("twenty five", 25),
        ("пять тысяч", 5000),
        ("полтора миллиона", 1_500_000),
        ("a dozen", 12),
        ("５０ｋ", 50_000),  # full-width
        ("٣٠", 30),  # Arabic-Indic digits
        ("0", 0),
    ],
)
def test_parse_number(text, expected):
    assert parse_number(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["", "no number", "не знаю", "🤷", "many", "k", "млн", "-", "$", "<b></b>"]
)
def test_parse_number_none(text):
    assert parse_number(text) is None


def test_parse_number_units_are_not_multipliers():
    assert parse_number("3 months") == 3  # not 3 million
    assert parse_number("5 kg") == 5
    assert parse_number("2 min") == 2


def test_parse_number_first_number_wins():
    assert parse_number("2 offices, 50 people") == 2


def test_parse_number_overflow_is_none():
    assert parse_number("9" * 5000) is None


# -------------------------------------------------- parse_timeline: spans
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 2 weeks", 14),
        ("2 weeks", 14),
        ("two weeks", 14),
        ("within 14 days if possible", 14),
        ("within a month", 30),
        ("a month", 30),
        ("через месяц", 30),
        ("через 2 недели", 14),
        ("через две недели", 14),
        ("Через 2 недели, у нас выступление на мероприятии", 14),
        ("в течение квартала", 91),
        ("через 3 квартала", 273),
        ("3 months", 90),
        ("3 месяца", 90),
        ("полгода", 182),
        ("пол года", 182),
        ("half a year", 182),
        ("year", 365),
        ("a year", 365),
        ("через год", 365),
        ("2 years", 730),
        ("6-8 weeks", 49),
        ("1.5 months", 45),
        ("полтора месяца", 45),
        ("пару недель", 14),
        ("a couple of weeks", 14),
        ("несколько дней", 3),
        ("10 days", 10),
        ("in 3 hours", 0),
        ("next week", 7),
        ("на следующей неделе", 7),
        ("next month", 30),
        ("в следующем месяце", 30),
        ("next year", 365),
        ("в следующем году", 365),
        ("в будущем году", 365),
    ],
)
def test_timeline_spans(text, expected):
    assert parse_timeline(text, TODAY) == expected


# -------------------------------------------------- now and soon
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("asap", 0),
        ("ASAP!!", 0),
        ("as soon as possible", 0),
        ("urgent", 0),
        ("срочно", 0),
        ("вчера", 0),  # "needed it yesterday"
        ("нужно было ещё вчера", 0),
        ("today", 0),
        ("сегодня", 0),
        ("right now", 0),
        ("как можно скорее", 0),
        ("tomorrow", 1),
        ("завтра", 1),
        ("послезавтра", 2),
        ("the day after tomorrow", 2),
        ("soon", 30),
        ("скоро", 30),
        ("в ближайшее время", 30),
    ],
)
def test_timeline_now_and_soon(text, expected):
    assert parse_timeline(text, TODAY) == expected


# -------------------------------------------------- some day
@pytest.mark.parametrize(
    "text",
    [
        "some day",
        "someday",
        "sometime",
        "когда-нибудь",
        "когда нибудь",
        "not soon",
        "not any time soon",
        "не скоро",
        "нескоро",
        "never",
        "никогда",
        "not now",
        "не сейчас",
        "не срочно",
        "not urgent",
        "в будущем",
        "in the future",
        "no plans yet",
    ],
)
def test_timeline_someday(text):
    assert parse_timeline(text, TODAY) == SOMEDAY_DAYS


# -------------------------------------------------- calendar
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Q3", 42),  # 1 July 2026
        ("q3", 42),
        ("Q4", 134),  # 1 October
        ("Q1", 226),  # already past: 1 January 2027
        ("Q2", 0),  # under way
        ("Q3 2027", 407),
        ("q3'27", 407),
        ("Q1 2026", 0),  # past
        ("3 квартал", 42),
        ("в 3 квартале", 42),
        ("в третьем квартале", 42),
        ("III квартал", 42),
        ("third quarter", 42),
        ("in March", 285),  # 1 March 2027: March is past this year
        ("в марте", 285),
        ("к сентябрю", 104),  # 1 September 2026
        ("by September", 104),
        ("в мае", 0),  # this month
        ("in May", 0),
        ("in June", 12),
        ("в июне", 12),
        ("end of June", 41),
        ("в конце июня", 41),
        ("mid-July", 56),
        ("15 марта", 299),
        ("March 15th", 299),
        ("в марте 2028", 651),
        ("2026-12-01", 195),
        ("15.03.2027", 299),
        ("15/03/2027", 299),
        ("03/15/2027", 299),  # month first only when the day says so
        ("1.6.26", 12),
        ("01.06", 12),
        ("01.01.2020", 0),  # past dates are 0
        ("end of year", 225),
        ("до конца года", 225),
        ("к концу года", 225),
        ("by the end of the year", 225),
        ("до нового года", 225),
        ("this month", 11),
        ("в этом месяце", 11),
        ("end of the quarter", 41),
        ("this week", 4),  # Wednesday to Sunday
        ("на этой неделе", 4),
        ("by Friday", 2),
        ("к пятнице", 2),
        ("в среду", 0),
        ("в 2027 году", 226),
        ("2028", 591),
        ("in 2026", 0),
    ],
)
def test_timeline_calendar(text, expected):
    assert parse_timeline(text, TODAY) == expected


def test_timeline_quarter_rolls_to_next_year_only_when_passed():
    assert parse_timeline("Q4", date(2026, 12, 31)) == 0
    assert parse_timeline("Q1", date(2026, 12, 31)) == 1


def test_timeline_far_future_is_capped():
    assert parse_timeline("2099-01-01", TODAY) == SOMEDAY_DAYS
    assert parse_timeline("in 50 years", TODAY) == SOMEDAY_DAYS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "не знаю",
        "don't know",
        "hmm",
        "we may start",  # "may" the verb, not the month
        "среди прочего",  # not Wednesday
        "🙂",
        "31.02.2027",  # no such date
        "later",
    ],
)
def test_timeline_none(text):
    assert parse_timeline(text, TODAY) is None


def test_timeline_ago_is_past():
    assert parse_timeline("2 weeks ago", TODAY) == 0


def test_timeline_first_named_time_wins_in_a_sentence():
    text = "We present at an event in 2 weeks, so the sooner the better"
    assert parse_timeline(text, TODAY) == 14
