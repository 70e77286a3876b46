"""Every built-in flow: valid, complete, its examples pass, DOMAIN.md's worked examples hold."""

from __future__ import annotations

import re

import pytest

from flows import builtin_flow_paths, check_paths, compile_flow, load_builtin, load_flow
from flows.check import check_flow, play_example
from flows.schema import CONTACT_KINDS

BUILTIN = sorted(builtin_flow_paths())

#: DOMAIN.md: each framework's parameters, in interview order (English names)
FRAMEWORK_ORDER = {
    "BANT": ["budget", "authority", "need", "timing"],
    "GPCTBA/C&I": [
        "goals",
        "plans",
        "challenges",
        "timeline",
        "budget",
        "authority",
        "consequences",
    ],
    "CHAMP": ["challenges", "authority", "money", "prioritization"],
    "ANUM": ["authority", "need", "urgency", "money"],
}


def test_bant_and_gpctba_are_built_in():
    assert {"bant", "gpctba"} <= set(BUILTIN)
    for fid, path in builtin_flow_paths().items():
        assert path.suffix == ".yaml" and path.parent.name == "builtin"
        assert load_flow(path).id == fid


@pytest.fixture(scope="module", params=BUILTIN)
def builtin(request):
    flow = load_builtin(request.param)
    return flow, compile_flow(flow)


def test_examples_pass(builtin):
    flow, compiled = builtin
    assert flow.examples, f"{flow.id} has no examples"
    problems = check_flow(flow, compiled)
    assert problems == [], "\n".join(map(str, problems))


def test_check_paths_defaults_to_every_builtin():
    assert check_paths() == []


def test_languages_are_english_and_russian(builtin):
    flow, _ = builtin
    assert set(flow.languages) >= {"en", "ru"}
    langs = {ex.lang for ex in flow.examples}
    assert {"en", "ru"} <= langs, "an example in each language"


def test_at_least_ten_questions_and_two_adaptive_branches(builtin):
    flow, _ = builtin
    assert len(flow.questions) >= 10
    branches = [
        q.id for q in flow.questions if q.skip_if is not None or any(n.when for n in q.next)
    ]
    assert len(branches) >= 2, branches


def test_framework_parameters_in_domain_order(builtin):
    flow, _ = builtin
    expected = FRAMEWORK_ORDER.get(flow.framework)
    if expected is None:
        pytest.skip(f"{flow.framework} is not one of DOMAIN.md's four frameworks")
    names = [p.name["en"].lower() for p in flow.parameters]
    assert len(names) == len(expected)
    for name, want in zip(names, expected, strict=True):
        assert name.startswith(want[:5]), (names, expected)
    # questions ask the parameters in that order (first question of each)
    first_seen = []
    for q in flow.questions:
        if q.parameter and q.parameter != "fit" and q.parameter not in first_seen:
            first_seen.append(q.parameter)
    assert first_seen == [p.id for p in flow.parameters]


def test_framework_flows_have_fit_and_contact_capture(builtin):
    flow, _ = builtin
    if flow.framework not in FRAMEWORK_ORDER:
        pytest.skip("the retail triage flow may be smaller")
    kinds = {q.kind for q in flow.questions}
    assert kinds >= CONTACT_KINDS, CONTACT_KINDS - kinds
    fit = [q for q in flow.questions if q.parameter == "fit"]
    assert len(fit) >= 2
    staff = next(q for q in fit if q.kind == "number")
    # DOMAIN: +5 for more than 10 staff, -5 for more than 1000
    by_size = {b.up_to: b.points for b in staff.ranges}
    assert by_size.get(10) == 0 and by_size.get(1000) == 5 and by_size.get(None) == -5


def test_every_question_is_reachable_and_translated(builtin):
    flow, _ = builtin
    for q in flow.questions:
        for lang in flow.languages:
            assert q.text[lang].strip()
            assert not re.search(r"\s{2,}", q.text[lang])
            for o in q.options:
                assert o.label[lang].strip()


#: what a prospect types to ask for each SQL signal (DOMAIN.md: price, demo, call, payment)
REQUESTS = {
    "price": ["How much does it cost?", "Сколько стоит?"],
    "demo": ["Can I get a demo?", "Покажите демо"],
    "call": ["Please call me", "Позвоните мне"],
    "payment": ["Send us an invoice", "Пришлите счёт на оплату"],
}


def test_intents_signal_requests_not_mentions(builtin):
    """Price/demo/call/payment requests fast-track; mentions in answers do not."""
    _, compiled = builtin
    intents = {it.id: it for it in compiled.flow.intents}
    asked = [i for i in REQUESTS if i in intents]
    if not asked:
        pytest.skip("no request intents")
    state = compiled.start("en").state
    for intent in asked:
        for text in REQUESTS[intent]:
            step = compiled.answer(state, text)
            assert intent in step.intents, text
            assert step.fast_track == intents[intent].fast_track, text
    for text in ("The price on your site is fine with us", "цена нас устраивает"):
        assert compiled.answer(state, text).intents == (), text


def test_engagement_events_are_scored(builtin):
    _, compiled = builtin
    ids = {ev.id for ev in compiled.flow.events}
    assert {
        "materials_opened",
        "reminder_answered",
        "opted_out",
        "blocked",
        "talk_to_person",
    } <= ids
    state = compiled.start("ru").state
    state = compiled.event(state, "materials_opened").state
    state = compiled.event(state, "reminder_answered").state
    res = compiled.result(state)
    assert res.engagement_score > 0
    state = compiled.event(state, "opted_out").state
    assert state.state == "done"
    assert compiled.result(state).engagement_score < res.engagement_score


# ------------------------------------------------------------------ DOMAIN.md's worked examples


def _example(flow, name_part):
    return next(ex for ex in flow.examples if name_part in ex.name)


def test_bant_worked_example_95_hot(bant):
    run = play_example(bant, _example(bant.flow, "rollout in 2 weeks"))
    res = run.result
    assert res.points == {"budget": 25, "authority": 25, "need": 20, "timing": 25}
    assert (res.total, res.max_total, res.percent, res.tier, res.stage) == (
        95,
        100,
        95.0,
        "hot",
        "MQL",
    )
    assert res.unknowns == ()
    assert "decision_team" not in run.asked  # the founder decides alone
    # each parameter says which answer earned which points
    need = res.parameter("need")
    assert [(a.question_id, a.points) for a in need.answers] == [("need", 20), ("must_haves", 0)]


def test_bant_worked_example_without_role_and_date_45_warm(bant):
    res = play_example(bant, _example(bant.flow, "no role and no date")).result
    assert (res.total, res.tier, res.stage) == (45, "warm", "MQL")
    assert set(res.unknowns) == {"authority", "timing"}
    assert res.parameter("authority").unknown and res.parameter("timing").unknown
    assert {pid for pid, _ in res.next_actions} == {"authority", "timing"}


def test_gpctba_worked_example_62_hot(gpctba):
    res = play_example(gpctba, _example(gpctba.flow, "event in 2 weeks")).result
    assert res.points == {
        "goals": 10,
        "plans": 2,
        "challenges": 10,
        "timeline": 10,
        "budget": 10,
        "authority": 10,
        "ci": 10,
    }
    assert (res.total, res.max_total, res.tier) == (62, 70, "hot")
    # weak plans -> offer a demo to confirm intent
    assert res.parameter("plans").weak
    assert [pid for pid, _ in res.next_actions] == ["plans"]
    assert "demo" in dict(res.next_actions)["plans"].lower()


def test_bant_knockout_student(bant):
    res = play_example(bant, _example(bant.flow, "student")).result
    assert (res.tier, res.stage, res.knockout) == ("disqualified", "out", "not_a_business")
    assert res.offer and "guide" in res.offer


def test_bant_cap_big_company(bant):
    res = play_example(bant, _example(bant.flow, "capped at warm")).result
    assert res.fast_tracked and res.fit_score < 0
    assert res.base_tier == "hot" and res.tier == "warm"
    assert res.caps


@pytest.mark.parametrize("flow_id", sorted(builtin_flow_paths()))
def test_builtin_flows_have_nurture_message_so_warm_leads_get_one(flow_id: str) -> None:
    # Bug: the built-in flows had no `followup.nurture`, so warm leads got nothing.
    flow = load_flow(builtin_flow_paths()[flow_id])
    assert flow.followup is not None and flow.followup.nurture is not None
    for lang in flow.languages:
        assert flow.followup.nurture.get(lang), f"{flow_id}: no nurture text in {lang}"
    assert flow.followup.nurture_url and flow.followup.nurture_url.startswith("https://")
