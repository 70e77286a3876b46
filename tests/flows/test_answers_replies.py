"""Short replies and contacts: parse_yes_no, is_skip, is_dont_know, parse_phone, parse_email."""

from __future__ import annotations

import pytest

from flows.answers import is_dont_know, is_skip, parse_email, parse_phone, parse_yes_no


# ----------------------------------------------------------------------------- yes / no
@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yes!",
        "YES",
        "yep",
        "yeah",
        "yup",
        "sure",
        "of course",
        "absolutely",
        "ok",
        "I do",
        "we do",
        "I think so",
        "yes, I'm the one who decides",
        "Yes but not right now",
        "no problem",
        "да",
        "Да!",
        "ага",
        "угу",
        "конечно",
        "конечно да",
        "разумеется",
        "ну да",
        "да, я принимаю решение",
        "есть",
        "думаю да",
        "👍 yes",
        "sí",
        "<b>yes</b>",
    ],
)
def test_yes(text):
    assert parse_yes_no(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "No.",
        "nope",
        "nah",
        "no way",
        "not really",
        "never",
        "I don't",
        "I do not",
        "we don't",
        "of course not",
        "definitely not",
        "no, someone else decides",
        "not me",
        "нет",
        "Нет.",
        "неа",
        "не",
        "конечно нет",
        "да нет",  # colloquial Russian "no"
        "нет, не я",
        "пока нет",
        "у нас нет",
        "думаю что нет",
        "не думаю",
        "нету",
        "nein",
    ],
)
def test_no(text):
    assert parse_yes_no(text) is False


@pytest.mark.parametrize(
    "text",
    [
        "",
        "maybe",
        "может быть",
        "возможно",
        "not sure",
        "no idea",
        "не знаю",
        "yes and no",
        "и да и нет",
        "it depends",
        "the weather is nice",
        "🤷",
        "I know",  # "no" inside "know" is not a no
        "nobodyknows",
    ],
)
def test_neither(text):
    assert parse_yes_no(text) is None


# ----------------------------------------------------------------------------- skip
@pytest.mark.parametrize(
    "text",
    [
        "skip",
        "Skip!",
        "/skip",
        "next",
        "pass",
        "skip this question please",
        "next question",
        "пропустить",
        "пропусти",
        "Дальше",
        "давай дальше",
        "следующий вопрос",
        "пропустиь",  # typo
        "-",
        "—",
        " – ",
        "не хочу отвечать",
        "prefer not to say",
    ],
)
def test_is_skip(text):
    assert is_skip(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "next week",
        "skip the demo and send the price",
        "no",
        "yes",
        "pass me the price list",
        "- 5",
    ],
)
def test_is_not_skip(text):
    assert is_skip(text) is False


# ----------------------------------------------------------------------------- don't know
@pytest.mark.parametrize(
    "text",
    [
        "don't know",
        "dont know",
        "I don't know",
        "idk",
        "IDK",
        "not sure",
        "I'm not sure",
        "no idea",
        "honestly no idea",
        "dunno",
        "hard to say",
        "n/a",
        "N/A",
        "не знаю",
        "Не знаю пока",
        "ну не знаю",
        "без понятия",
        "понятия не имею",
        "хз",
        "сложно сказать",
        "затрудняюсь ответить",
        "dont knwo",  # typo
        "No idea yet which extra modules we'd want.",
        "Пока не понимаем, какие дополнения понадобятся.",
        "не знаю, что выбрать",
    ],
)
def test_is_dont_know(text):
    assert is_dont_know(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I know",
        "yes",
        "не знаю, наверное через месяц",  # an answer follows
        "not sure, about 50",
        "don't know exactly, maybe 20 people",
        "not sure we need a CRM at all",
        "we know exactly what we need",
        "знаю",
    ],
)
def test_is_not_dont_know(text):
    assert is_dont_know(text) is False


# ----------------------------------------------------------------------------- phone
@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+7 999 123-45-67", None, "+79991234567"),
        ("+7 (999) 123 45 67", "RU", "+79991234567"),
        ("8 999 123 45 67", "RU", "+79991234567"),
        ("8 (999) 123-45-67", "ru", "+79991234567"),  # region in any case
        ("89991234567", None, "+79991234567"),  # Russian trunk 8 without a region
        ("79991234567", None, "+79991234567"),  # the "+" left out
        ("(650) 253-0000", "US", "+16502530000"),
        ("+1 650 253 0000", "RU", "+16502530000"),  # an explicit country wins
        ("+44 20 7946 0958", None, "+442079460958"),
        ("call me at +7 999 123 45 67 after six", None, "+79991234567"),
        ("мой номер: 8-999-123-45-67", "RU", "+79991234567"),
        ("+49 30 901820", None, "+4930901820"),
    ],
)
def test_parse_phone(text, region, expected):
    assert parse_phone(text, region) == expected


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("", None),
        ("no phone", None),
        ("123", "RU"),
        ("+7 000", None),
        ("8 000 000 00 00", "RU"),  # not a valid Russian number
        ("12345678901234567890", None),
        ("call me", "XX"),  # unknown region
        ("999 123 45 67", "XX"),
    ],
)
def test_parse_phone_none(text, region):
    assert parse_phone(text, region) is None


# ----------------------------------------------------------------------------- email
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("john@example.com", "john@example.com"),
        ("John.Doe@Example.COM", "John.Doe@example.com"),  # the domain is lowercased
        ("my email is anna@company.io, thanks", "anna@company.io"),
        ("пишите на ivan@почта.рф", "ivan@почта.рф"),
        ("mailto:a@b.co", "a@b.co"),
        ("<b>x@gmail.com</b>", "x@gmail.com"),
        ("email: sales@acme.com.", "sales@acme.com"),
        ("bad@@x.com or good@x.com", "good@x.com"),
    ],
)
def test_parse_email(text, expected):
    assert parse_email(text) == expected


@pytest.mark.parametrize(
    "text", ["", "no email", "foo@bar", "@example.com", "a@b", "a@b@c", "john at example dot com"]
)
def test_parse_email_none(text):
    assert parse_email(text) is None
