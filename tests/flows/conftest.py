"""Fixtures for the engine tests: built-in flows and a small flow to vary."""

from __future__ import annotations

import textwrap

import pytest

from flows import compile_flow, load_builtin, load_text
from flows.engine import CompiledFlow

#: a small complete flow every schema test varies with `small_flow(replace=...)`
SMALL = textwrap.dedent(
    """\
    id: small
    framework: TEST
    languages: [en, ru]
    title: {en: Small, ru: Маленький}
    parameters:
      - id: budget
        name: {en: Budget, ru: Бюджет}
        max: 10
        min: -5
        next_action: {en: Ask about money., ru: Спросить о деньгах.}
      - id: need
        name: {en: Need, ru: Потребность}
        max: 10
        next_action: {en: Ask about the need., ru: Спросить о потребности.}
    questions:
      - id: budget
        parameter: budget
        kind: single
        text: {en: "Is there a budget?", ru: "Есть ли бюджет?"}
        options:
          - id: yes_budget
            label: {en: We have a budget, ru: Бюджет есть}
            points: 10
            synonyms: {en: [approved], ru: [утвержден]}
          - id: no_budget
            label: {en: No budget, ru: Бюджета нет}
            points: -5
      - id: need
        parameter: need
        kind: text
        text: {en: "What do you need?", ru: "Что нужно?"}
        rules:
          - id: crm
            points: 10
            keywords: {en: [crm], ru: [crm]}
    texts:
      reask: {en: "Pick one: {{ options }}", ru: "Выберите: {{ options }}"}
    closing:
      hot: {en: Hot., ru: Горячий.}
      warm: {en: Warm., ru: Тёплый.}
      cold: {en: Cold., ru: Холодный.}
      disqualified: {en: Out., ru: Вне.}
    """
)


def small_flow(*replacements: tuple[str, str], append: str = "") -> str:
    """SMALL with exact text replacements (each must apply) and extra YAML appended."""
    text = SMALL
    for old, new in replacements:
        assert old in text, f"test setup: {old!r} not in SMALL"
        text = text.replace(old, new, 1)
    return text + textwrap.dedent(append)


def compile_text(text: str, file: str = "test.yaml") -> CompiledFlow:
    return compile_flow(load_text(text, file))


@pytest.fixture(scope="session")
def bant() -> CompiledFlow:
    return compile_flow(load_builtin("bant"))


@pytest.fixture(scope="session")
def gpctba() -> CompiledFlow:
    return compile_flow(load_builtin("gpctba"))
