"""Every parser takes any text: emoji, zero-width and bidi controls, right-to-left
scripts, HTML, 4,096 characters of noise. None (or False) means "not understood";
nothing raises, and every result has the documented shape."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.answers import (
    SOMEDAY_DAYS,
    OptionMatch,
    is_dont_know,
    is_skip,
    match_option,
    match_options,
    matches_any,
    normalize,
    parse_email,
    parse_number,
    parse_phone,
    parse_timeline,
    parse_yes_no,
)

TODAY = date(2026, 5, 20)
OPTIONS = (
    ("founder", ("Founder / owner", "Основатель")),
    ("s1", ("1-10 employees", "1-10 сотрудников")),
    ("s2", ("200+",)),
    ("other", ("Other", "Другое", "אחר", "آخر")),
)
IDS = [oid for oid, _ in OPTIONS]
PHRASES = ("budget", "price list", "бюджет", "no", "ميزانية")

GARBAGE = [
    "",
    " ",
    "\n\t\r",
    "\x00\x01\x7f",
    "\u200b\u200c\u200d\u2060\ufeff",
    "\u202e\u2066yes\u2069",  # bidi override and isolate around a word
    "😀" * 50,
    "👨‍👩‍👧‍👦🏳️‍🌈🇷🇺",
    "2️⃣",
    "مرحبا، نحن شركة صغيرة ١٢٣",
    "שלום! אנחנו צוות של 50 אנשים",
    "<b>yes</b>",
    "<script>alert(1)</script>",
    "&lt;b&gt;&amp;",
    "a" * 4096,
    "да " * 1365,
    "1," * 2048,
    "9" * 4096,
    "+" + "7" * 4095,
    "@" * 4096,
    ("x@" * 2048),
    "\u0301" * 100,
    "ß" * 2000,
    "ﷺ" * 500,  # one character NFKC expands to 18
    "\ud7ff\ue000\U0010ffff",
    "в марте " * 512,
    "no " * 1365,
]


def _check_all(text: str) -> None:
    norm = normalize(text)
    assert isinstance(norm, str)
    assert norm == norm.strip() and "  " not in norm

    m = match_option(text, OPTIONS)
    assert m is None or (isinstance(m, OptionMatch) and m.option_id in IDS and 0 <= m.score <= 100)

    ms = match_options(text, OPTIONS)
    assert ms is None or (ms and set(ms) <= set(IDS) and list(ms) == sorted(ms, key=IDS.index))

    n = parse_number(text)
    assert n is None or (isinstance(n, float) and math.isfinite(n))

    days = parse_timeline(text, TODAY)
    assert days is None or (isinstance(days, int) and 0 <= days <= SOMEDAY_DAYS)

    assert parse_yes_no(text) in (True, False, None)
    for region in (None, "RU", "us", "XX", ""):
        phone = parse_phone(text, region)
        assert phone is None or (phone.startswith("+") and phone[1:].isdigit())
    email = parse_email(text)
    assert email is None or "@" in email
    assert matches_any(text, PHRASES) in (None, *PHRASES)
    assert matches_any(text, [text[:20]]) in (None, text[:20])
    assert is_skip(text) in (True, False)
    assert is_dont_know(text) in (True, False)


@pytest.mark.parametrize("text", GARBAGE)
def test_garbage_never_raises(text):
    _check_all(text)


def test_right_to_left_answers_still_match():
    assert match_option("אחר", OPTIONS).option_id == "other"
    assert match_option("آخر", OPTIONS).option_id == "other"
    assert matches_any("لدينا ميزانية", PHRASES) == "ميزانية"
    assert parse_number("אנחנו 50 אנשים") == 50


def test_html_tags_do_not_hide_the_answer():
    assert parse_yes_no("<b>yes</b>") is True
    assert match_option("<i>Другое</i>", OPTIONS).option_id == "other"
    assert parse_number("<b>50k</b>") == 50_000


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),
    max_size=200,
)
_WORDY = st.lists(
    st.sampled_from(
        [
            "yes", "no", "не", "да", "budget", "бюджет", "2", "10-50", "50k", "1,5", "млн",
            "q3", "марте", "2 weeks", "asap", "+7", "999", "@", "x@y.co", ",", ".", "-",
            "😀", "\u200b", "\u202e", "שלום", "مرحبا", "founder", "founer", "other", "and",
            "и", "not", "idk", "skip", "through", "через", "месяц", "<b>", "ё",
        ]
    ),
    max_size=12,
).map(" ".join)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_any_text_never_raises(text):
    _check_all(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_WORDY)
def test_answer_like_text_never_raises(text):
    _check_all(text)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=8), st.lists(st.text(max_size=15), max_size=3)), max_size=5
    ),
    _TEXT,
)
def test_arbitrary_option_lists_never_raise(options, text):
    ids = [oid for oid, _ in options]
    m = match_option(text, options)
    assert m is None or m.option_id in ids
    ms = match_options(text, options)
    assert ms is None or set(ms) <= set(ids)
    labels = [label for _, labels in options for label in labels]
    assert matches_any(text, labels) in (None, *labels)
