# ruff: noqa: E501  (flow YAML and typed answers are test data, kept on one line)
"""DOMAIN.md's worked examples, said differently from the flow files' own examples.

The second wording (one English, one Russian paraphrase) was written before the
built-in flows' rules: a rule that matches only the example's own wording is a
bug. The third wording was written after the rules, in words neither used; it
failed at first on "acceptable / settled on", "приемлемая / решили брать" and
"slipping through the cracks", and the rules gained that general vocabulary
(not these sentences).
Questions a paraphrase leaves out are skipped (answered "skip"), as in a
flow file's `examples:`.
"""

from __future__ import annotations

import pytest

from flows.check import play_example
from flows.schema import Example

# --------------------------------------------------------------------------- BANT, 95/100 hot
BANT_FULL = {
    "en": {
        "budget": "Looked around at a few vendors and yours is the one. Pricing from the website is OK for us.",
        "role": "I own the company, so it's my call.",
        "need": "We need a CRM so our salespeople stop working in chaos and everything is in order.",
        "must_haves": "No idea yet which extra modules we'd want.",
        "timing": "within 14 days if possible",
    },
    "ru": {
        "budget": "Сравнили несколько систем, остановились на вашей. Цена с сайта нас устраивает.",
        "role": "Я основатель, решение принимаю сам.",
        "need": "Хотим навести порядок в продажах, чтобы все клиенты были в одной CRM.",
        "must_haves": "Пока не понимаем, какие дополнения понадобятся.",
        "timing": "Через две недели нужно запуститься",
    },
}

# a third wording, added after the rules, in words neither the rules nor the first
# paraphrases use: it probes how general the rules are
BANT_FULL_3 = {
    "en": {
        "budget": "We did our homework on the alternatives and settled on your CRM; the cost you list is acceptable.",
        "role": "I'm the CEO and I sign off on this myself.",
        "need": "Our sales reps track deals in their heads; we want a CRM so nothing falls through the cracks.",
        "must_haves": "Haven't thought about the extras yet.",
        "timing": "ASAP, ideally within two weeks.",
    },
    "ru": {
        "budget": "Посмотрели конкурентов, решили брать вашу систему. Стоимость приемлемая.",
        "role": "Я собственник бизнеса, решаю всё сам.",
        "need": "Менеджеры ведут клиентов кто как хочет, нужна CRM, чтобы все сделки были под контролем.",
        "must_haves": "Про дополнительные модули пока не думали.",
        "timing": "Хотим запуститься в течение двух недель.",
    },
}

# the same lead without a role or a date: 25 + 0 + 20 + 0 = 45/100, warm
BANT_NO_ROLE_NO_DATE = {
    lang: {k: v for k, v in answers.items() if k not in ("role", "timing")}
    for lang, answers in BANT_FULL.items()
}

# --------------------------------------------------------------------------- GPCTBA/C&I, 62/70 hot
GPCTBA_FULL = {
    "en": {
        "goal": "Need a system up quickly, with every customer contact together and the pipeline visible.",
        "plans": "Honestly just spreadsheets until now; we've never had a CRM.",
        "challenge": "Too many incoming requests, the spreadsheet can't keep up.",
        "timeline": "within 14 days, there's a trade show",
        "budget": "Yes, there's money for the licence and for the implementation.",
        "authority": "That's on me, I own the business.",
        "success": "Routine work gets automated and the workload is shared fairly.",
        "failure": "We'd keep losing leads in the spreadsheet.",
    },
    "ru": {
        "goal": "Нужна система, где вся клиентская база вместе и видно, на каком этапе каждая сделка. И побыстрее.",
        "plans": "Пока всё ведём в экселевских таблицах, CRM у нас никогда не было.",
        "challenge": "Заявок стало слишком много, таблица не справляется.",
        "timeline": "Через 2 недели, у нас выступление на мероприятии",
        "budget": "Да, деньги на покупку и внедрение есть.",
        "authority": "Решаю я, я владелец.",
        "success": "Автоматизация рутины и равномерная нагрузка на менеджеров.",
        "failure": "Продолжим терять заявки в таблицах.",
    },
}


GPCTBA_FULL_3 = {
    "en": {
        "goal": "We want every lead logged in one CRM and to see the whole sales pipeline at a glance.",
        "plans": "So far it's all been in Excel sheets and people's notebooks.",
        "challenge": "We're drowning in incoming requests and losing some of them.",
        "timeline": "We need it in two weeks for a conference.",
        "budget": "Yes, both the licence and the setup are budgeted.",
        "authority": "The call is mine.",
        "success": "Less manual data entry and the workload spread evenly.",
        "failure": "Requests will keep slipping through the cracks.",
    },
    "ru": {
        "goal": "Хотим быстро завести всех клиентов в одну систему и видеть воронку продаж.",
        "plans": "До сих пор всё в таблицах и в блокнотах у менеджеров.",
        "challenge": "Заявок столько, что мы их теряем.",
        "timeline": "Нужно через две недели, у нас конференция.",
        "budget": "Да, на лицензии и внедрение деньги выделены.",
        "authority": "Решение принимаю я.",
        "success": "Рутина уйдёт в автоматику, нагрузка станет ровной.",
        "failure": "Будем и дальше упускать заявки.",
    },
}


def _run(compiled, lang, answers):
    example = Example.model_validate(
        {"name": "paraphrase", "lang": lang, "answers": answers, "expect": {}}
    )
    run = play_example(compiled, example)
    assert not run.problems, run.problems
    return run


@pytest.mark.parametrize("wording", [BANT_FULL, BANT_FULL_3], ids=["second", "third"])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_bant_worked_example_paraphrase_is_95_hot(bant, lang, wording):
    run = _run(bant, lang, wording[lang])
    res = run.result
    assert res.points == {"budget": 25, "authority": 25, "need": 20, "timing": 25}, res.explain()
    assert (res.total, res.max_total, res.tier, res.stage) == (95, 100, "hot", "MQL")
    assert res.unknowns == ()
    # the founder decides alone: not asked who else signs
    assert "decision_team" not in run.asked
    assert not res.fast_tracked  # no intent phrase was typed


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_bant_without_role_and_date_paraphrase_is_45_warm(bant, lang):
    run = _run(bant, lang, BANT_NO_ROLE_NO_DATE[lang])
    res = run.result
    assert res.points == {"budget": 25, "authority": 0, "need": 20, "timing": 0}, res.explain()
    assert (res.total, res.tier, res.stage) == (45, "warm", "MQL")
    assert set(res.unknowns) == {"authority", "timing"}
    assert {pid for pid, _ in res.next_actions} >= {"authority", "timing"}


@pytest.mark.parametrize("wording", [GPCTBA_FULL, GPCTBA_FULL_3], ids=["second", "third"])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_gpctba_worked_example_paraphrase_is_62_hot(gpctba, lang, wording):
    run = _run(gpctba, lang, wording[lang])
    res = run.result
    assert res.points == {
        "goals": 10,
        "plans": 2,
        "challenges": 10,
        "timeline": 10,
        "budget": 10,
        "authority": 10,
        "ci": 10,
    }, res.explain()
    assert (res.total, res.max_total, res.tier) == (62, 70, "hot")
    plans = res.parameter("plans")
    assert plans.weak and not plans.unknown
    # weak plans: offer a demo to confirm intent
    actions = dict(res.next_actions)
    assert "demo" in actions["plans"].lower() or "демо" in actions["plans"].lower()
    assert "signers" not in run.asked
