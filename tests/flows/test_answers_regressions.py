"""Regression tests for typed-answer bugs reported by the authors of the built-in flows.

Each test is named after the bug it pins.
"""

from __future__ import annotations

from datetime import date

import pytest

from flows import compile_flow, load_builtin
from flows.answers import match_option, matches_any, parse_number, parse_timeline
from flows.answers.wordkeys import ru_stems

# a Monday
MARCH_3 = date(2025, 3, 3)


def _options(flow_id: str, question: str):
    return compile_flow(load_builtin(flow_id)).program.questions[question].options


# -------------------------------------------------- 1. glued phrases and a short last word
@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("цена нас устраивает", "цена на"),  # "ценана" is not "цена" + an ending
        ("решаю", "решаю я"),  # "решаюя" less "я" is not an ending either
        ("решаю сам", "решаю я"),
    ],
)
def test_short_last_word_does_not_make_phrase_match_its_first_word_alone(text, phrase):
    assert matches_any(text, (phrase,)) is None


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("цена на услуги", "цена на"),
        ("решаю я", "решаю я"),
        ("send the pricelist", "price list"),  # the glued form still matches
        ("пришлите прайслист", "прайс лист"),
        ("копию прайслиста", "прайс листа"),
        ("пришлите прайслиста", "прайс лист"),  # an ending on the glued last word
        ("a callback tomorrow", "call back"),
    ],
)
def test_short_last_word_glued_phrases_still_match_whole(text, phrase):
    assert matches_any(text, (phrase,)) == phrase


# -------------------------------------------------- 2. Russian stems: only endings may differ
@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("я студент, пишу курсовую", "студия"),
        ("студентка", "студия"),
        ("решает начальник", "решаю"),  # he decides is not I decide
        ("решают вместе", "решаю"),
        ("решаю я", "решает"),
        ("мы решаем вместе", "решаю"),  # we decide is not I decide either
        ("решит директор", "решу"),
        ("вы решаете", "решает"),
        ("столица", "стол"),
        ("бюджетирование", "бюджет"),
        ("в течение часа", "часть"),
    ],
)
def test_russian_prefix_matching_is_too_loose(text, phrase):
    assert matches_any(text, (phrase,)) is None


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("бюджета хватит", "бюджет"),
        ("с бюджетом всё ок", "бюджет"),
        ("бюджет", "бюджета"),
        ("бюджет утверждён", "бюджет утвержден"),
        ("бюджеты утверждены", "бюджет утвержден"),
        ("у нас бюджет утвержденный", "бюджет утвержден"),
        ("утверждённая смета", "утверждена"),
        ("много клиентов", "клиент"),
        ("клиенту", "клиентов"),
        ("сделки срываются", "сделка"),
        ("теряем сделку", "сделки"),
        ("много сделок", "сделка"),
        ("сделок", "сделки"),
        ("продавца", "продавец"),
        ("студии", "студия"),
        ("компаниями", "компания"),
        ("компаний", "компания"),
        ("команда выросла", "выросли"),  # the past tense has no person
        ("отдел вырос", "выросли"),
        ("решила я", "решил"),
        ("заявки начали теряться", "теряются"),  # an infinitive has no person either
        ("будем упускать заявки", "упускаем"),
        ("мне решать", "решаю"),
        ("решать будет директор", "решает"),
        ("решал всегда я", "решаю"),
        ("хотим автоматизировать продажи", "автоматизирую"),
        ("я решаю", "решаю"),
        ("у владельца", "владелец"),
        ("много денег", "деньги"),
        ("мало времени", "время"),
        ("цен на сайте", "цена"),
    ],
)
def test_russian_prefix_matching_keeps_real_inflections(text, phrase):
    assert matches_any(text, (phrase,)) == phrase


def test_russian_prefix_matching_stems_keep_half_the_word():
    for word in ("студия", "решаю", "сделками", "клиентов"):
        for stem in ru_stems(word):
            base = stem.split("/")[0]
            assert len(base) >= max(3, (len(word) + 1) // 2), (word, stem)


def test_russian_prefix_matching_student_answer_is_only_the_student_option():
    options = _options("bant", "industry")
    services = next(
        labels for oid, labels in _options_table("bant", "industry") if oid == "services"
    )
    assert matches_any("я студент, пишу курсовую", services) is None
    found = match_option("я студент, пишу курсовую", options)
    assert found is not None and found.option_id == "personal" and found.sure
    found = match_option("мы веб-студия", _options("anum", "industry"))
    assert found is not None and found.option_id == "software"


def _options_table(flow_id: str, question: str):
    return compile_flow(load_builtin(flow_id)).program.questions[question].match_table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Решаю я", "me"),
        ("решаю сам", "me"),
        ("Решает начальник", "someone_else"),
        ("решает наш директор", "someone_else"),
        ("решаем вместе с партнёром", "with_others"),
    ],
)
def test_russian_prefix_matching_keeps_the_person_of_a_verb_in_authority_answers(text, expected):
    found = match_option(text, _options("anum", "decider"))
    assert found is not None and found.option_id == expected and found.sure, found


# -------------------------------------------------- 3. "ничего не X" is one negation
@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("ничего не изменится", "ничего"),
        ("да ничего не будет", "ничего"),
        ("ничего не пробовали", "ничего"),
        ("никак не решали", "никак"),
        ("пока ничего нет", "пока ничего"),  # "нет" after a negative pronoun agrees with it
        ("nothing will change", "nothing"),
    ],
)
def test_negation_after_nichego_negates_what_follows_not_nichego(text, phrase):
    assert matches_any(text, (phrase,)) == phrase


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("я ничего не решаю", "решаю"),  # a negation before the phrase still negates it
        ("ничего не изменится", "изменится"),
        # after any other word it still says the phrase does not hold
        ("бюджет не выделен", "бюджет"),
        ("бюджета нет", "бюджет"),
        ("демо не нужно", "демо"),
        ("budget not allocated", "budget"),
        ("бюджет не утвержден", "бюджет утвержден"),
    ],
)
def test_negation_after_nichego_still_negates_other_phrases(text, phrase):
    assert matches_any(text, (phrase,)) is None


def test_negation_after_nichego_picks_the_nothing_option():
    found = match_option("ничего не будет, переживём", _options("anum", "delay_cost"))
    assert found is not None and found.option_id in ("nothing", "bearable")
    found = match_option("да ничего не случится особенного", _options("anum", "delay_cost"))
    assert found is not None and found.option_id == "nothing"


# -------------------------------------------------- 4. the end of next month
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("by the end of next month", 58),  # to 30 April 2025
        ("end of next month", 58),
        ("до конца следующего месяца", 58),
        ("к концу следующего месяца", 58),
        ("в конце следующего месяца", 58),
        ("by the end of next week", 13),  # Sunday 16 March
        ("до конца следующей недели", 13),
        ("by the end of next quarter", 119),  # 30 June
        ("к концу следующего квартала", 119),
        ("end of next year", 668),  # 31 December 2026
        ("next month", 30),  # a span, unchanged
        ("до конца месяца", 28),
    ],
)
def test_end_of_next_month_counts_to_the_end_of_that_month(text, expected):
    assert parse_timeline(text, MARCH_3) == expected


def test_end_of_next_month_across_a_year_end():
    assert parse_timeline("end of next month", date(2025, 12, 10)) == 52  # 31 January 2026
    assert parse_timeline("end of next quarter", date(2025, 11, 3)) == 148  # 31 March 2026


# -------------------------------------------------- 5. Russian number words
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("тысяч 60", 60_000),  # inverted: about 60 thousand
        ("тысяч 60-70", 65_000),
        ("тыс. 60", 60_000),
        ("бюджет тысяч на 200", 200_000),
        ("миллиона 2", 2_000_000),
        ("60 тысяч", 60_000),  # unchanged
        ("двое", 2),
        ("нас трое", 3),
        ("четверо менеджеров", 4),
        ("пятеро", 5),
        ("около пяти", 5),
        ("до десяти человек", 10),
        ("двадцати", 20),
        ("двадцати пяти", 25),
        ("около пятидесяти тысяч", 50_000),
        ("семнадцать", 17),
    ],
)
def test_russian_numbers_inverted_collective_and_genitive(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("в течение пяти дней", 5),
        ("в течение десяти дней", 10),
        ("в течение двадцати дней", 20),
        ("в пределах двух недель", 14),
        ("в течение трех месяцев", 90),
        ("в течение двадцати пяти дней", 25),
        ("within twenty five days", 25),
        ("в течение нескольких месяцев", 90),
    ],
)
def test_russian_numbers_genitive_in_timelines(text, expected):
    assert parse_timeline(text, MARCH_3) == expected
