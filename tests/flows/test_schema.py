# ruff: noqa: E501  (flow YAML and typed answers are test data, kept on one line)
"""A bad flow file is refused with file, line and a reason a marketer understands."""

from __future__ import annotations

import pytest

from flows import FlowError, load_flow, load_text
from flows.check import check_text
from flows.loader import MAX_BYTES, load_file

from .conftest import SMALL, small_flow


def problems(text: str) -> list[FlowError]:
    with pytest.raises(FlowError) as info:
        load_text(text, "my.yaml")
    return info.value.problems


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"test setup: {needle!r} not found"
    return hits[nth - 1]


def only(text: str) -> FlowError:
    found = problems(text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_small_flow_loads():
    flow = load_text(SMALL, "small.yaml")
    assert flow.id == "small"
    assert [q.id for q in flow.questions] == ["budget", "need"]
    assert flow.max_total == 20
    assert len(flow.digest) == 64


def test_error_str_is_file_line_reason():
    text = small_flow(("    kind: single\n", "    kind: single\n    opitons: []\n"))
    err = only(text)
    assert str(err) == f"my.yaml:{err.line}: {err.reason}"
    assert err.file == "my.yaml"


def test_unknown_key_names_line_and_suggests():
    text = small_flow(("    kind: single\n", "    kind: single\n    opitons: []\n"))
    err = only(text)
    assert err.line == line_of(text, "opitons")
    assert "unknown key 'opitons'" in err.reason
    assert "did you mean 'options'" in err.reason
    assert "question 'budget'" in err.reason


def test_unknown_top_level_key():
    text = small_flow(append="colour: blue\n")
    err = only(text)
    assert err.line == line_of(text, "colour")
    assert "unknown key 'colour'" in err.reason


def test_missing_required_key():
    text = small_flow(('    text: {en: "What do you need?", ru: "Что нужно?"}\n', ""))
    err = only(text)
    assert "'text' is missing" in err.reason
    assert "question 'need'" in err.reason
    assert err.line == line_of(text, "- id: need", 2)  # the question, not the parameter


def test_wrong_type_is_explained():
    text = small_flow(("    max: 10\n    min: -5", "    max: ten\n    min: -5"))
    err = only(text)
    assert err.line == line_of(text, "max: ten")
    assert "whole number" in err.reason


def test_bad_kind_lists_the_kinds():
    text = small_flow(("    kind: text\n", "    kind: essay\n"))
    err = only(text)
    assert err.line == line_of(text, "kind: essay")
    assert "single" in err.reason and "timeline" in err.reason


def test_bad_id_is_explained():
    text = small_flow(("  - id: need\n    parameter", "  - id: Need It\n    parameter"))
    found = problems(text)
    assert any("short id" in p.reason and p.line == line_of(text, "id: Need It") for p in found)


def test_unreachable_question():
    text = small_flow(
        (
            "    options:\n",
            "    next: done\n    options:\n",
        )
    )
    err = only(text)
    assert "never asked" in err.reason and "'need'" in err.reason
    assert err.line == line_of(text, "- id: need", 2)


def test_state_with_no_way_out():
    text = small_flow(
        (
            "    options:\n",
            "    next:\n      - when: {answer: budget, is: yes_budget}\n        to: need\n"
            "    options:\n",
        )
    )
    err = only(text)
    assert "no way out" in err.reason
    assert err.line == line_of(text, "next:")


def test_transition_to_nowhere():
    text = small_flow(("    options:\n", "    next: needd\n    options:\n"))
    found = problems(text)
    assert found[0].line == line_of(text, "next: needd")
    assert "leads nowhere" in found[0].reason and "'needd'" in found[0].reason


def test_transition_backwards_is_refused():
    text = small_flow(
        ("    rules:\n", "    next: budget\n    rules:\n"),
    )
    err = only(text)
    assert "jumps back" in err.reason
    assert err.line == line_of(text, "next: budget")


def test_line_after_catch_all_is_refused():
    text = small_flow(
        (
            "    options:\n",
            "    next:\n      - to: need\n      - when: {answer: budget, is: no_budget}\n"
            "        to: done\n    options:\n",
        )
    )
    err = only(text)
    assert "never used" in err.reason


def test_points_outside_parameter_range():
    text = small_flow(("        points: 10\n", "        points: 11\n"))
    err = only(text)
    assert err.line == line_of(text, "points: 11")
    assert "outside the range of parameter 'budget' (-5..10)" in err.reason


def test_negative_points_below_min():
    text = small_flow(("        points: -5\n", "        points: -6\n"))
    err = only(text)
    assert "outside the range" in err.reason


def test_points_on_a_question_without_parameter():
    text = small_flow(("    parameter: need\n", ""))
    err = only(text)
    assert "counts for no parameter" in err.reason


def test_missing_translation():
    text = small_flow(('{en: "What do you need?", ru: "Что нужно?"}', '{en: "What do you need?"}'))
    err = only(text)
    assert err.line == line_of(text, "What do you need?")
    assert "no ru text (missing translation)" in err.reason


def test_text_in_a_language_not_listed():
    text = small_flow(("{en: Small, ru: Маленький}", "{en: Small, ru: Маленький, pl: Mały}"))
    err = only(text)
    assert "'pl'" in err.reason and "not in languages" in err.reason


def test_keywords_need_every_language():
    text = small_flow(("keywords: {en: [crm], ru: [crm]}", "keywords: {en: [crm]}"))
    err = only(text)
    assert "no ru phrases" in err.reason


def test_third_language_is_data_not_code():
    """Adding a language is a new block of text; missing pieces are named."""
    text = small_flow(("languages: [en, ru]", "languages: [en, ru, pl]"))
    found = problems(text)
    assert all("no pl text" in p.reason or "no pl phrases" in p.reason for p in found)
    assert len(found) > 5


def test_reask_text_is_required():
    text = small_flow(
        (
            '  reask: {en: "Pick one: {{ options }}", ru: "Выберите: {{ options }}"}\n',
            "  welcome: {en: Hi, ru: Привет}\n",
        )
    )
    err = only(text)
    assert "reask" in err.reason


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{{ options.__class__ }}", "internals"),
        ("{{ options['__class__'] }}", "internals"),
        ("{{ lipsum() }}", "call"),
        ("{{ secret }}", "unknown variable 'secret'"),
        ("{{ options|attr('x') }}", "filter 'attr'"),
        ("{% include 'x' %}", "import or include"),
        ("{{ options", "template error"),
    ],
)
def test_templates_reaching_for_internals_are_refused(template, why):
    text = small_flow(('{en: "Pick one: {{ options }}"', '{en: "Pick one: ' + template + '"'))
    err = only(text)
    assert why in err.reason
    assert err.line == line_of(text, "reask:")


def test_labels_cannot_be_templates():
    text = small_flow(("{en: We have a budget,", "{en: 'We have {{ title }}',"))
    err = only(text)
    assert "cannot use {{ }}" in err.reason


def test_condition_on_unknown_option():
    text = small_flow(
        (
            "    options:\n",
            "    next:\n      - when: {answer: budget, is: maybe}\n        to: done\n"
            "      - to: need\n    options:\n",
        )
    )
    err = only(text)
    assert "has no option 'maybe'" in err.reason and "yes_budget" in err.reason


def test_condition_shape_is_explained():
    text = small_flow(
        (
            "    options:\n",
            "    next:\n      - when: {answr: budget, is: no_budget}\n        to: done\n"
            "      - to: need\n    options:\n",
        )
    )
    err = only(text)
    assert "a condition is one of" in err.reason
    assert err.line == line_of(text, "answr")


def test_condition_on_a_later_question():
    text = small_flow(
        ("    kind: single\n", "    kind: single\n    skip_if: {answer: need, is: crm}\n"),
    )
    err = only(text)
    assert "not asked before this point" in err.reason


def test_no_python_no_import_paths_in_conditions():
    """A condition is data from the vocabulary: a dotted path is not a condition."""
    text = small_flow(
        ("    kind: single\n", "    kind: single\n    skip_if: os.system\n"),
    )
    err = only(text)
    assert "a condition is one of" in err.reason


def test_yesno_needs_yes_and_no():
    text = small_flow(
        (
            '    kind: single\n    text: {en: "Is there a budget?"',
            '    kind: yesno\n    text: {en: "Is there a budget?"',
        ),
    )
    err = only(text)
    assert "id yes and id no" in err.reason


def test_yes_and_no_stay_words():
    """YAML 1.1 would make `no` false; option ids yes/no must stay text."""
    text = small_flow(
        (
            '    kind: single\n    text: {en: "Is there a budget?"',
            '    kind: yesno\n    text: {en: "Is there a budget?"',
        ),
        ("id: yes_budget", "id: yes"),
        ("id: no_budget", "id: no"),
    )
    flow = load_text(text)
    assert [o.id for o in flow.questions[0].options] == ["yes", "no"]


def test_ranges_must_go_up_and_end_open():
    text = small_flow(
        ("    kind: text\n", "    kind: number\n"),
        (
            "    rules:\n      - id: crm\n        points: 10\n        keywords: {en: [crm], ru: [crm]}\n",
            "    ranges:\n      - {up_to: 10, points: 0}\n      - {up_to: 5, points: 5}\n",
        ),
    )
    found = problems(text)
    reasons = " | ".join(p.reason for p in found)
    assert "must go up" in reasons
    assert "needs no up_to" in reasons


def test_options_on_a_text_question_are_refused():
    text = small_flow(
        ("    rules:\n", "    options:\n      - {id: a, label: {en: A, ru: А}}\n    rules:\n")
    )
    err = only(text)
    assert "'options' is for single, multi or yesno" in err.reason


def test_duplicate_question_id():
    text = small_flow(("  - id: need\n    parameter", "  - id: budget\n    parameter"))
    found = problems(text)
    assert any("listed twice" in p.reason for p in found)


def test_all_problems_are_collected_in_line_order():
    text = small_flow(
        ("        points: 10\n", "        points: 11\n"),
        ('{en: "What do you need?", ru: "Что нужно?"}', '{en: "What do you need?"}'),
    )
    found = problems(text)
    assert len(found) == 2
    assert [p.line for p in found] == sorted(p.line for p in found)


# --------------------------------------------------------------------------- hostile YAML


def test_alias_bomb_is_refused_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 12):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}]\n"
    err = only(bomb)
    assert "aliases" in err.reason
    assert err.line == 2


def test_deep_nesting_is_refused():
    err = only("a: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert "nested deeper" in err.reason


def test_deep_nesting_of_maps_is_refused():
    text = "".join("  " * i + f"k{i}:\n" for i in range(60)) + "  " * 60 + "v\n"
    err = only(text)
    assert "nested deeper" in err.reason


def test_file_over_a_megabyte_is_refused(tmp_path):
    big = "# " + "x" * (MAX_BYTES + 10) + "\n" + SMALL
    err = only(big)
    assert "larger than" in err.reason
    path = tmp_path / "big.yaml"
    path.write_text(big, encoding="utf-8")
    with pytest.raises(FlowError) as info:
        load_file(path)
    assert "larger than" in info.value.reason


@pytest.mark.parametrize(
    "payload",
    [
        "a: !!python/object/apply:os.system [echo hi]\n",
        "a: !!python/name:os.system\n",
        "!!set {a, b}\n",
        "a: !custom x\n",
    ],
)
def test_tags_are_refused(payload):
    err = only(payload)
    assert "tags such as" in err.reason


def test_duplicate_keys_are_refused():
    text = small_flow(("framework: TEST\n", "framework: TEST\nframework: OTHER\n"))
    err = only(text)
    assert "appears twice" in err.reason
    assert err.line == line_of(text, "framework: OTHER")


def test_two_documents_are_refused():
    err = only(SMALL + "---\nid: other\n")
    assert "one flow per file" in err.reason


def test_malformed_yaml_names_the_line():
    text = small_flow(("    kind: text\n", "    kind: text\n   bad indent: [\n"))
    err = only(text)
    assert "malformed" in err.reason
    assert err.line >= line_of(text, "bad indent")


@pytest.mark.parametrize("text", ["", "# nothing\n", "null\n"])
def test_empty_file(text):
    err = only(text + "\n")
    assert "empty" in err.reason


def test_not_a_map():
    err = only("- a\n- b\n")
    assert "map of 'key: value'" in err.reason


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(SMALL.replace("Маленький", "Mal\xe9").encode("latin-1", "replace"))
    with pytest.raises(FlowError) as info:
        load_flow(path)
    assert "UTF-8" in info.value.reason


def test_missing_file():
    with pytest.raises(FlowError) as info:
        load_flow("/nonexistent/flow.yaml")
    assert "cannot read" in info.value.reason


# --------------------------------------------------------------------------- examples


def test_failing_example_names_the_expectation_line():
    text = small_flow(
        append="""\
        examples:
          - name: wrong expectation
            lang: en
            answers: {budget: we have a budget, need: a crm please}
            expect:
              total: 20
              tier: cold
        """
    )
    found = check_text(text, "my.yaml")
    assert len(found) == 1
    err = found[0]
    assert err.line == line_of(text, "tier: cold")
    assert "example 'wrong expectation'" in err.reason
    assert "expected tier cold, got hot" in err.reason


def test_example_answering_a_question_never_asked():
    text = small_flow(
        (
            "    options:\n",
            "    next:\n      - when: {answer: budget, is: no_budget}\n"
            "        to: done\n      - to: need\n    options:\n",
        ),
        append="""\
        examples:
          - name: branch
            lang: en
            answers: {budget: no budget, need: crm}
            expect: {total: -5}
        """,
    )
    found = check_text(text, "my.yaml")
    assert len(found) == 1
    assert "never asked 'need'" in found[0].reason
    assert found[0].line == line_of(text, "answers: {budget: no budget")


def test_example_naming_unknown_things_is_refused_at_load():
    text = small_flow(
        append="""\
        examples:
          - name: typo
            lang: de
            answers: {budgett: x}
            expect: {points: {money: 1}, unknowns: [timing]}
        """
    )
    reasons = " | ".join(p.reason for p in problems(text))
    assert "language 'de'" in reasons
    assert "'budgett', which is no question" in reasons
    assert "'money' is not a parameter" in reasons
    assert "'timing' is not a parameter" in reasons


def test_passing_examples_give_no_problems():
    text = small_flow(
        append="""\
        examples:
          - name: all good
            lang: ru
            answers: {budget: "1", need: нужна CRM}
            expect: {total: 20, tier: hot, stage: MQL, unknowns: []}
          - name: typed list
            lang: en
            answers: [no budget, dunno]
            expect: {total: -5, tier: cold, stage: null, points: {budget: -5, need: 0}}
        """
    )
    assert check_text(text) == []


def test_comma_in_a_flow_map_is_explained():
    """`{en: A, b, ru: C}`: YAML reads `b` as a key. Say so."""
    text = small_flow(
        (
            "{en: Ask about money., ru: Спросить о деньгах.}",
            "{en: Ask, about money., ru: Спросить о деньгах.}",
        )
    )
    err = only(text)
    assert "comma inside" in err.reason and "quotes" in err.reason


@pytest.mark.parametrize(
    "template", ["{{ answers.need.text }}", "{{ options|round }}", "{{ (1 / 0) }}"]
)
def test_templates_that_fail_when_shown_are_refused(template):
    text = small_flow(('{en: "Pick one: {{ options }}"', '{en: "Pick one: ' + template + '"'))
    err = only(text)
    assert "fails when shown" in err.reason


def test_render_never_raises_at_run_time():
    from flows.texts import render

    assert render("Hi {{ answers.x.y }}!", {"answers": {}}) == "Hi !"
    assert render("Plain text", {}) == "Plain text"
