"""Typed answers to choice questions and keyword rules: normalize, match_option(s), matches_any."""

from __future__ import annotations

import pytest

from flows.answers import (
    OptionIndex,
    OptionMatch,
    PhraseIndex,
    build_option_index,
    match_option,
    match_option_indexed,
    match_options,
    match_options_indexed,
    matches_any,
    matches_any_indexed,
    normalize,
    phrase_index,
)

ROLE = (
    ("founder", ("Founder / owner", "Основатель / владелец", "CEO", "собственник")),
    ("exec", ("Executive", "Руководитель отдела", "director", "директор")),
    ("manager", ("Manager", "Менеджер", "team lead")),
    ("specialist", ("Specialist", "Специалист", "engineer", "инженер")),
    ("other", ("Other", "Другое", "student", "студент")),
)
BUDGET = (
    ("yes", ("We have a budget", "Бюджет есть", "budget approved", "бюджет утвержден")),
    ("no", ("No budget", "Бюджета нет")),
    ("unsure", ("Not decided yet", "Пока не решили")),
)
STAFF = (
    ("s1", ("1-10 employees", "1-10 сотрудников")),
    ("s2", ("11-50 employees", "11-50 сотрудников")),
    ("s3", ("51-200 employees", "51-200 сотрудников")),
    ("s4", ("200+ employees", "больше 200 сотрудников")),
)
TIMING = (
    ("soon", ("Within 2 weeks", "В течение 2 недель")),
    ("quarter", ("1-3 months", "1-3 месяца")),
    ("later", ("3-6 months", "3-6 месяцев")),
)
CHANNELS = (
    ("crm", ("CRM", "црм")),
    ("email", ("Email", "почта", "рассылка")),
    ("chat", ("Chat bot", "чат-бот")),
    ("crm_int", ("CRM integration", "интеграция с CRM")),
)


def picked(text: str, options=ROLE) -> str | None:
    """The option id when the match is sure, else None."""
    m = match_option(text, options)
    return m.option_id if m is not None and m.sure else None


# -------------------------------------------------- normalize
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello,   WORLD!! ", "hello world"),
        ("Ёлка ЁЖИК", "елка ежик"),
        ("don't", "dont"),
        ("I’m", "im"),
        ("bud\u200bget", "budget"),  # zero-width space inside a word
        ("\ufeffyes\u200d", "yes"),
        ("yes 👍🏽 ok", "yes ok"),
        ("2\ufe0f\u20e3", "2"),  # keycap emoji
        ("<b>CRM</b>", "b crm b"),
        ("1.5m, 50,000 or 1,5", "1.5m 50,000 or 1,5"),  # separators between digits stay
        ("end. Next", "end next"),
        ("ＣＲＭ", "crm"),  # full-width letters (NFKC)
        ("Straße", "strasse"),  # casefold
        ("٣٠ يوم", "30 يوم"),  # Arabic-Indic digits become 0-9
        ("שלום, עולם", "שלום עולם"),
        ("e\u0301te\u0301", "été"),  # combining accents stay on their letters
        ("\u0301alone", "alone"),  # a stray combining mark does not
        ("", ""),
        ("?!…—", ""),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_normalize_is_idempotent_on_examples():
    for raw in ("Hello, World!", "1,5 млн руб.", "Ёж — ёлка", "don't #2"):
        once = normalize(raw)
        assert normalize(once) == once


# -------------------------------------------------- match_option: exact
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Founder / owner", "founder"),
        ("founder / OWNER!!", "founder"),
        ("ceo", "founder"),
        ("собственник", "founder"),
        ("МЕНЕДЖЕР", "manager"),
        ("Другое", "other"),
        ("  team   lead ", "manager"),
    ],
)
def test_exact_label_or_synonym_is_sure_100(text, expected):
    m = match_option(text, ROLE)
    assert m == OptionMatch(expected, 100.0, True)


def test_alternatives_in_a_slash_label_match_on_their_own():
    assert picked("owner") == "founder"
    assert picked("владелец") == "founder"


# -------------------------------------------------- by number
@pytest.mark.parametrize(
    "text",
    [
        "2",
        "2.",
        "#2",
        "2)",
        "№2",
        " 2 ",
        "option 2",
        "вариант 2",
        "2nd",
        "2-й",
        "second",
        "второй",
        "2️⃣",
    ],
)
def test_number_picks_second_option(text):
    assert match_option(text, ROLE) == OptionMatch("exec", 100.0, True)


@pytest.mark.parametrize(
    ("text", "expected"), [("1", "founder"), ("5", "other"), ("пятый", "other")]
)
def test_number_picks_in_given_order(text, expected):
    assert picked(text) == expected


@pytest.mark.parametrize("text", ["0", "6", "17", "100"])
def test_number_out_of_range_picks_nothing(text):
    assert match_option(text, ROLE) is None


def test_number_inside_a_sentence_is_not_a_pick():
    assert match_option("2 weeks", ROLE) is None


# -------------------------------------------------- contained in a sentence
@pytest.mark.parametrize(
    ("text", "expected", "options"),
    [
        ("we already have the budget approved", "yes", BUDGET),
        ("Yes! Budget approved last week.", "yes", BUDGET),
        ("бюджет уже утверждён", "yes", BUDGET),  # a word between, ё, and an ending
        ("у нас бюджет утвержденный", "yes", BUDGET),
        ("no budget yet", "no", BUDGET),
        ("бюджета пока нет", "no", BUDGET),
        ("I am the founder of the company", "founder", ROLE),
        ("я основатель компании", "founder", ROLE),
        ("менеджер по продажам", "manager", ROLE),
        ("руководитель отдела продаж", "exec", ROLE),
        ("I work as an engineer", "specialist", ROLE),
        ("студентка", "other", ROLE),  # Russian ending on a synonym
        ("We are engineers", "specialist", ROLE),  # English plural
    ],
)
def test_label_inside_a_sentence(text, expected, options):
    assert picked(text, options) == expected


def test_score_drops_as_the_sentence_grows_but_stays_sure():
    short = match_option("budget approved", BUDGET)
    longer = match_option("honestly we got the budget approved by finance last month", BUDGET)
    assert short.score == 100.0
    assert longer.sure and longer.option_id == "yes"
    assert 70 <= longer.score < short.score


def test_typed_words_found_inside_a_longer_label():
    # "2 weeks" is all of what was typed and lies inside "Within 2 weeks"
    assert picked("2 weeks", TIMING) == "soon"
    assert picked("в течение 2 недель", TIMING) == "soon"


def test_longer_label_found_whole_beats_the_shorter_inside_it():
    assert picked("we need crm integration", CHANNELS) == "crm_int"
    assert picked("интеграция с crm", CHANNELS) == "crm_int"
    assert picked("just a crm", CHANNELS) == "crm"


# -------------------------------------------------- typos
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("founer", "founder"),
        ("foudner", "founder"),  # swapped letters
        ("fuonder", "founder"),
        ("Manger", "manager"),
        ("specialst", "specialist"),
        ("оснаватель", "founder"),
        ("менеджр", "manager"),
        ("I'm the founer", "founder"),
    ],
)
def test_small_typos(text, expected):
    m = match_option(text, ROLE)
    assert m is not None and m.option_id == expected and m.sure
    assert m.score < 100


def test_typos_cost_score():
    exact = match_option("founder", (("a", ("founder",)), ("b", ("other",))))
    typo = match_option("founer", (("a", ("founder",)), ("b", ("other",))))
    assert exact.score > typo.score


def test_short_words_need_to_be_exact():
    # one letter off a 3-letter word is another word, not a typo
    assert match_option("cat", (("a", ("car",)), ("b", ("bus",)))) is None
    assert match_option("ceo", ROLE).option_id == "founder"
    assert match_option("cea", ROLE) is None


def test_whole_label_typos_across_short_words():
    m = match_option("budgt aproved", BUDGET)
    assert m is not None and m.option_id == "yes" and m.sure


# -------------------------------------------------- not sure / nothing
def test_nearly_tied_options_are_not_sure():
    m = match_option("budget", BUDGET)  # "We have a budget" or "No budget"?
    assert m is not None and not m.sure


def test_shared_word_is_not_sure():
    opts = (("a", ("Sales manager",)), ("b", ("Marketing manager",)))
    m = match_option("manager", opts)
    assert m is not None and not m.sure


def test_same_label_on_two_options_is_not_sure():
    opts = (("a", ("Other",)), ("b", ("other",)))
    m = match_option("other", opts)
    assert m is not None and m.score == 100.0 and not m.sure


@pytest.mark.parametrize(
    "text", ["something else entirely", "hmm", "🤷", "asdf qwer", "", "   ", "?!"]
)
def test_nothing_plausible_is_none(text):
    assert match_option(text, ROLE) is None


def test_negated_label_does_not_match():
    assert picked("we do not have the budget approved", BUDGET) != "yes"
    assert picked("budget not approved", BUDGET) != "yes"
    assert picked("бюджет не утвержден", BUDGET) != "yes"
    assert picked("not decided yet", BUDGET) == "unsure"
    assert picked("пока не решили", BUDGET) == "unsure"


def test_negation_in_an_earlier_clause_does_not_reach():
    assert picked("no problem, budget approved", BUDGET) == "yes"


def test_whole_words_only():
    opts = (("rent", ("rent",)), ("buy", ("buy",)))
    assert match_option("current price", opts) is None
    assert match_option("we want to rent", opts).option_id == "rent"


# -------------------------------------------------- numeric range labels
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", "s2"),
        ("about 30 people", "s2"),
        ("около 100 человек", "s3"),
        ("5000", "s4"),
        ("10-50", "s2"),  # midpoint 30
        ("11-50", "s2"),
        ("51-200 employees", "s3"),
        ("50 сотрудников", "s2"),
    ],
)
def test_numbers_fall_into_range_labels(text, expected):
    assert picked(text, STAFF) == expected


def test_bare_number_that_is_also_an_option_number_is_not_sure():
    # "3": the third option (51-200) or three people (1-10)?
    m = match_option("3", STAFF)
    assert m is not None and not m.sure


def test_bare_number_agreeing_with_its_range_is_sure():
    m = match_option("1", STAFF)  # option 1 and value 1 both say 1-10
    assert m.option_id == "s1" and m.sure


def test_units_beside_a_number_must_fit_the_label():
    # "2 months" is not "Within 2 weeks" even though 2 fits its number
    assert picked("2 months", TIMING) == "quarter"
    assert picked("5 месяцев", TIMING) == "later"


# -------------------------------------------------- index and inputs
def test_index_gives_the_same_answers():
    index = build_option_index(ROLE)
    assert isinstance(index, OptionIndex)
    for text in ("founer", "2", "я основатель компании", "nothing here"):
        assert match_option_indexed(text, index) == match_option(text, ROLE)
    assert match_option("2", index) == match_option("2", ROLE)


def test_lists_and_generators_of_labels_are_accepted():
    opts = [["a", ["Alpha", "альфа"]], ["b", ["Beta"]]]
    assert match_option("альфа", opts).option_id == "a"
    assert match_options("alpha and beta", opts) == ("a", "b")


def test_empty_options_and_empty_labels():
    assert match_option("anything", ()) is None
    assert match_options("1", ()) is None
    assert match_option("x", (("a", ()), ("b", ("",)))) is None


# -------------------------------------------------- match_options
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1, 3", ("crm", "chat")),
        ("1 and 3", ("crm", "chat")),
        ("1,3", ("crm", "chat")),
        ("1 3", ("crm", "chat")),
        ("3 и 1", ("crm", "chat")),  # given in options' order
        ("crm and email", ("crm", "email")),
        ("crm, почта", ("crm", "email")),
        ("CRM + рассылка + чат-бот", ("crm", "email", "chat")),
        ("email", ("email",)),
        ("почту и црм", ("crm", "email")),
        ("emial and crm", ("crm", "email")),  # typo
        ("crm integration and email", ("email", "crm_int")),  # "crm" inside the longer label
        ("crm, 2", ("crm", "email")),
        ("crm but not email", ("crm",)),
        ("I'd like email and a chat bot please", ("email", "chat")),
    ],
)
def test_match_options(text, expected):
    assert match_options(text, CHANNELS) == expected


@pytest.mark.parametrize("text", ["nothing", "", "0, 9", "🙂", "none of these"])
def test_match_options_none(text):
    assert match_options(text, CHANNELS) is None


def test_match_options_index():
    index = build_option_index(CHANNELS)
    assert match_options_indexed("1, 3", index) == ("crm", "chat")
    assert match_options("crm and email", index) == ("crm", "email")


# -------------------------------------------------- matches_any
@pytest.mark.parametrize(
    ("text", "phrases", "expected"),
    [
        ("What is your BUDGET?", ["budget"], "budget"),
        ("бюджета нам хватит", ["бюджет"], "бюджет"),
        ("с бюджетом всё ок", ["бюджет"], "бюджет"),
        ("can you send the price list", ["price list"], "price list"),
        ("send the pricelist", ["price list"], "price list"),
        ("send the price-list", ["price list"], "price list"),
        ("send me the prices", ["price"], "price"),
        ("pricing?", ["price"], "price"),
        ("we planned it", ["plan"], "plan"),
        ("I want a demo", ["demo", "call"], "demo"),
        ("call me maybe", ["demo", "call"], "call"),
        ("хочу посмотреть демо", ["demo", "демо"], "демо"),
        ("we want to rent a laptop", ["rent"], "rent"),
        ("renting is cheaper", ["rent"], "rent"),
        ("No.", ["no"], "no"),
        ("please send an invoce", ["invoice"], "invoice"),  # typo in a 5+ letter word
        ("скинте счёт", ["счет"], "счет"),
        ("нужна интеграция с 1с", ["интеграция с 1с"], "интеграция с 1с"),
        ("a CRM for the sales team", ["crm for sales"], "crm for sales"),  # small gap
    ],
)
def test_matches_any_finds(text, phrases, expected):
    assert matches_any(text, phrases) == expected


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("I know", ["no"]),
        ("the current state", ["rent"]),
        ("parental leave", ["rent"]),
        ("бюджетирование", ["бюджет"]),  # a different word, not an ending
        ("столица", ["стол"]),
        ("planet earth", ["plan"]),
        ("notebook", ["note"]),
        ("cat", ["car"]),  # short words: no typo tolerance
        ("price", ["price list"]),  # every word of a phrase must be there
        ("list of prices", ["price list"]),  # in order
        ("a crm that our whole big sales team uses", ["crm for sales"]),  # too far apart
        ("", ["budget"]),
        ("budget", []),
        ("budget", [""]),
    ],
)
def test_matches_any_misses(text, phrases):
    assert matches_any(text, phrases) is None


@pytest.mark.parametrize(
    "text",
    [
        "I don't need a demo",
        "no demo please",
        "we never asked for a demo",
        "демо не нужно",
        "не нужно демо",
        "без демо",
    ],
)
def test_matches_any_negated_phrase_does_not_match(text):
    assert matches_any(text, ["demo", "демо"]) is None


def test_matches_any_negated_phrase_when_the_phrase_itself_negates():
    assert matches_any("we have no budget", ["no budget"]) == "no budget"
    assert matches_any("у нас нет бюджета", ["нет бюджета"]) == "нет бюджета"
    assert matches_any("we have no budget", ["budget", "no budget"]) == "no budget"


def test_matches_any_first_phrase_in_list_order_wins():
    assert matches_any("demo and price", ["price", "demo"]) == "price"
    assert matches_any("demo and price", ["demo", "price"]) == "demo"


def test_matches_any_index():
    index = phrase_index(["budget", "price list"])
    assert isinstance(index, PhraseIndex)
    assert phrase_index(index) is index
    assert matches_any_indexed("the pricelist", index) == "price list"
    assert matches_any("the pricelist", index) == "price list"
    assert phrase_index(("budget", "price list")) is phrase_index(("budget", "price list"))


def test_matches_any_repeated_calls_are_consistent():
    # results are memoised per index: the second answer must equal the first
    for _ in range(3):
        assert matches_any("no demo", ["demo"]) is None
        assert matches_any("a demo", ["demo"]) == "demo"
