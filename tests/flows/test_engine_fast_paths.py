"""The engine's fast paths give the same answers as the plain ones.

`progress` looks ahead through the machine's own `next` transitions (read back
from it at compile time) instead of triggering it once per question; states,
records and steps are built by positional makers; button answers and rendered
texts are memoised. Each is checked here against the straightforward way.
"""

from __future__ import annotations

import random
from dataclasses import FrozenInstanceError

import pytest

from flows import builtin_flow_paths, compile_flow, load_builtin
from flows.engine import _ENDS, Ctx, _Cursor
from flows.scoring import ParameterResult
from flows.state import (
    AnswerRecord,
    InterviewState,
    Step,
    new_answer,
    new_state,
    new_step,
    positional_maker,
)
from flows.texts import render, template_names

FLOWS = sorted(builtin_flow_paths())
TYPED = [
    "skip",
    "не знаю",
    "hmm, what?",
    "50",
    "через месяц",
    "anna@example.com",
    "+7 916 123-45-67",
]


def _reference_progress(cf, state) -> tuple[int, int]:
    """Progress the way it was first written: trigger `next` once per question."""
    answered = len(state.answers)
    if state.state in _ENDS:
        return answered, answered
    ctx = Ctx(cf.program, state.answers, state.signals)
    cursor = _Cursor(state.state)
    remaining = 0
    while cursor.state not in _ENDS:
        remaining += 1
        assert cf.machine.events["next"].trigger(cursor, ctx)
        cf._settle(cursor, ctx, state)
    return answered, answered + remaining


def _random_states(cf, seed: int, known=None):
    rnd = random.Random(seed)
    state = cf.start(rnd.choice(cf.languages), known=known).state
    yield state
    for _ in range(60):
        if state.finished:
            return
        qp = cf.program.questions[state.state]
        roll = rnd.random()
        if qp.option_ids and roll < 0.7:
            step = cf.answer(state, option=rnd.choice(qp.option_ids))
        elif roll < 0.8:
            step = cf.skip(state)
        elif roll < 0.85 and state.answers:
            step = cf.back(state)
        else:
            step = cf.answer(state, rnd.choice(TYPED))
        state = step.state
        yield state


@pytest.mark.parametrize("flow_id", FLOWS)
def test_progress_look_ahead_matches_stepping_the_machine(flow_id):
    cf = compile_flow(load_builtin(flow_id))
    for seed in range(25):
        known = {"name": "Anna", "phone": "+447946000000"} if seed % 3 == 0 else None
        for state in _random_states(cf, seed, known):
            assert cf.progress(state) == _reference_progress(cf, state), (seed, state.state)


@pytest.mark.parametrize("flow_id", FLOWS)
def test_routes_are_the_machines_own_transitions(flow_id):
    cf = compile_flow(load_builtin(flow_id))
    event = cf.machine.events["next"]
    for qid, qp in cf.program.questions.items():
        expected = tuple(
            (tuple((c.func, c.target) for c in t.conditions), t.dest)
            for t in event.transitions[qid]
        )
        assert qp.routes == expected


@pytest.mark.parametrize("flow_id", FLOWS)
def test_each_answer_triggers_one_event_unless_questions_are_skipped(flow_id, monkeypatch):
    cf = compile_flow(load_builtin(flow_id))
    calls = []
    for name in ("next", "knockout", "finish"):
        event = cf.machine.events[name]
        original = event.trigger

        def counted(model, *args, _original=original, **kwargs):
            calls.append(model.state)
            return _original(model, *args, **kwargs)

        monkeypatch.setattr(event, "trigger", counted)
    for seed in range(10):
        rnd = random.Random(seed)
        state = cf.start(rnd.choice(cf.languages)).state
        while not state.finished:
            qp = cf.program.questions[state.state]
            calls.clear()
            before = len(state.answers)
            if qp.option_ids:
                step = cf.answer(state, option=rnd.choice(qp.option_ids))
            else:
                step = cf.skip(state)
            moved = len(step.state.answers) > before
            # one event per answer, plus one per question passed over (skip_if, known contact)
            passed_over = len(calls) - 1
            assert moved and passed_over >= 0
            assert set(calls[1:]) <= {q for q, p in cf.program.questions.items() if p.may_skip}
            cf.question(step.state)  # the look-ahead triggers nothing
            assert len(calls) == passed_over + 1
            state = step.state


def test_positional_makers_build_equal_frozen_objects():
    rec = new_answer("q", "p", "raw", ("o",), "v", 3, False, "why")
    assert rec == AnswerRecord("q", "p", "raw", ("o",), "v", 3, False, "why")
    assert hash(rec) == hash(AnswerRecord("q", "p", "raw", ("o",), "v", 3, False, "why"))
    state = new_state("f", "en", "q", (rec,), (), 0, None, False, ())
    assert state == InterviewState("f", "en", "q", (rec,))
    assert type(state) is InterviewState and not state.finished
    step = new_step(state, "accepted", None, False, (), ())
    assert step == Step(state, "accepted")
    with pytest.raises(FrozenInstanceError):
        rec.points = 5  # type: ignore[misc]
    make = positional_maker(ParameterResult)  # a frozen dataclass without slots
    made = make("need", "Need", 5, 10, 0, False, False, (rec,), None)
    assert made == ParameterResult("need", "Need", 5, 10, 0, False, False, (rec,), None)
    with pytest.raises(FrozenInstanceError):
        made.points = 1  # type: ignore[misc]


def test_render_memo_keeps_values_types_and_unset_names_apart():
    text = "Hi{% if first_name %}, {{ first_name }}{% endif %}: {{ points }}"
    assert template_names(text) == ("first_name", "points")
    assert render(text, {"first_name": "Anna", "points": 50}) == "Hi, Anna: 50"
    assert render(text, {"first_name": "Anna", "points": 50.0}) == "Hi, Anna: 50.0"
    assert render(text, {"first_name": "", "points": 1}) == "Hi: 1"
    assert render(text, {"points": 1}) == "Hi: 1"
    assert render(text, {"first_name": "Ivan", "points": 1}) == "Hi, Ivan: 1"
    unset = "{{ first_name | default('friend') }}"
    assert render(unset, {}) == "friend"
    assert render(unset, {"first_name": ""}) == ""
    # a dict value is not memoised, and still rendered right
    answers = "{{ answers.use | default('-') }}"
    assert render(answers, {"answers": {"use": "games"}}) == "games"
    assert render(answers, {"answers": {}}) == "-"
    assert template_names("plain text") == ()


def test_button_answers_are_reused_and_unchanged():
    cf = compile_flow(load_builtin("bant"))
    state = cf.start("en").state
    qp = cf.program.questions[state.state]
    oid = qp.option_ids[0]
    first = cf.answer(state, option=oid)
    again = cf.answer(state, option=oid)
    assert first == again
    assert first.state.answers[-1].option_ids == (oid,)
    assert first.state.answers[-1].reason == qp.label_of[oid]["en"]
