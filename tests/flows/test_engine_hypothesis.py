"""The engine never loops: random input sequences, garbage included, end every
interview within a bounded number of steps, with every score inside its range."""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import builtin_flow_paths, compile_flow, load_builtin

FLOW_IDS = sorted(builtin_flow_paths())


@functools.cache
def compiled_flow(flow_id):
    return compile_flow(load_builtin(flow_id))


_TYPED = [
    "1",
    "2",
    "3",
    "9",
    "yes",
    "нет",
    "skip",
    "не знаю",
    "don't know",
    "in 2 weeks",
    "через месяц",
    "some day",
    "about 30",
    "5000",
    "+44 20 7946 0958",
    "anna@example.com",
    "how much does it cost?",
    "demo please",
    "not interested",
    "",
    "   ",
    "🙂🙂🙂",
    "a" * 500,
]

inputs = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(_TYPED)),
    st.tuples(st.just("text"), st.text(max_size=60)),
    st.tuples(st.just("option"), st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", max_size=12)),
    st.tuples(st.just("pick"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("skip"), st.none()),
    st.tuples(st.just("back"), st.none()),
    st.tuples(
        st.just("event"),
        st.sampled_from(["materials_opened", "link_clicked", "reminder_answered", "x"]),
    ),
)


def check_ranges(compiled, state):
    res = compiled.result(state)
    for p in res.parameters:
        assert p.min <= p.points <= p.max, p
    assert sum(p.points for p in res.parameters) == res.total
    lo, hi = compiled.program.param_range["fit"]
    assert lo <= res.fit_score <= hi
    lo, hi = compiled.program.param_range["engagement"]
    assert lo <= res.engagement_score <= hi
    assert res.tier in ("hot", "warm", "cold", "disqualified")
    assert res.stage == {"hot": "MQL", "warm": "MQL", "cold": None, "disqualified": "out"}[res.tier]
    assert (res.tier == "disqualified") == (res.knockout is not None)
    for a in state.answers:
        if a.unknown:
            assert a.points == 0
    return res


@pytest.mark.parametrize("flow_id", FLOW_IDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq=st.lists(inputs, max_size=80), lang=st.sampled_from(["en", "ru"]))
def test_random_inputs_end_within_bound_and_scores_stay_in_range(flow_id, seq, lang):
    compiled = compiled_flow(flow_id)
    n_questions = len(compiled.program.order)
    state = compiled.start(lang).state
    backs = 0
    forward_inputs = 0
    for kind, value in seq:
        if kind == "text":
            step = compiled.answer(state, value)
            forward_inputs += 1
        elif kind == "option":
            step = compiled.answer(state, option=value)
        elif kind == "pick":
            view = compiled.question(state)
            if view is None or not view.options:
                step = compiled.answer(state, str(value))
            else:
                step = compiled.answer(state, option=view.options[value % len(view.options)][0])
            forward_inputs += 1
        elif kind == "skip":
            step = compiled.skip(state)
            forward_inputs += 1
        elif kind == "back":
            step = compiled.back(state)
            backs += step.outcome == "back"
        else:
            step = compiled.event(state, value)
        state = step.state
        assert state.misses in (0, 1)
        assert len(state.answers) <= n_questions
        # answers are in interview order, each question at most once
        ids = [a.question_id for a in state.answers]
        assert len(ids) == len(set(ids))
        order = compiled.program.order
        assert ids == sorted(ids, key=order.index)
        check_ranges(compiled, state)

    # then keep typing garbage: the interview must end within 2 inputs per question
    limit = 2 * n_questions
    for i in range(limit + 1):
        if state.finished:
            break
        assert i < limit, "interview did not end"
        state = compiled.answer(state, "zzqx garbage").state
    assert state.finished
    assert compiled.question(state) is None
    res = check_ranges(compiled, state)
    assert res.finished


@pytest.mark.parametrize("flow_id", FLOW_IDS)
@settings(max_examples=60, deadline=None)
@given(
    seq=st.lists(
        st.tuples(st.sampled_from(["text", "skip"]), st.sampled_from(_TYPED)), max_size=200
    )
)
def test_forward_inputs_alone_end_the_interview(flow_id, seq):
    """Without Back, an interview takes at most 2 inputs per question."""
    compiled = compiled_flow(flow_id)
    limit = 2 * len(compiled.program.order)
    state = compiled.start("en").state
    used = 0
    for kind, value in seq:
        if state.finished:
            break
        state = (compiled.answer(state, value) if kind == "text" else compiled.skip(state)).state
        used += 1
    if not state.finished:
        assert used < limit
    else:
        assert used <= limit
    check_ranges(compiled, state)
