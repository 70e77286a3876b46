# ruff: noqa: E501  (flow YAML and typed answers are test data, kept on one line)
"""The engine: every question kind, both languages, re-ask, unknowns, branches,
skip_if, Back, knock-outs, intents, engagement events, caps, templates."""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import FrozenInstanceError

import pytest

from flows import InterviewState, compile_flow, load_text
from flows.compiler import clear_cache
from flows.state import AnswerRecord

from .conftest import compile_text

TODAY = dt.date(2025, 3, 3)

ALL_KINDS = textwrap.dedent(
    """\
    id: allkinds
    framework: TEST
    languages: [en, ru]
    title: {en: All kinds, ru: Все виды}
    strings:
      product: {en: our CRM, ru: нашу CRM}
    parameters:
      - id: budget
        name: {en: Budget, ru: Бюджет}
        max: 20
        min: -10
        next_action: {en: "Ask about money ({{ points }}/{{ max }}).", ru: "Спросить о деньгах ({{ points }}/{{ max }})."}
      - id: need
        name: {en: Need, ru: Потребность}
        max: 20
        weak_below: 15
        next_action: {en: Offer a demo to confirm intent., ru: "Предложить демо, чтобы подтвердить намерение."}
      - id: timing
        name: {en: Timing, ru: Сроки}
        max: 10
        next_action: {en: Agree on a date., ru: Договориться о сроке.}
    fit: {min: -5, max: 5}
    engagement: {min: -20, max: 20}
    caps:
      - when: {score: fit, below: 0}
        at_most: warm
        reason: {en: Too big for us., ru: Слишком крупная компания.}
      - when: {signal: materials_opened}
        at_least: warm
    questions:
      - id: role
        kind: single
        parameter: budget
        text:
          en: "{% if first_name %}{{ first_name }}, what{% else %}What{% endif %} is your role?"
          ru: "{% if first_name %}{{ first_name }}, какая{% else %}Какая{% endif %} у вас роль?"
        options:
          - id: owner
            label: {en: Owner, ru: Владелец}
            points: 10
            synonyms: {en: [founder, ceo], ru: [основатель, гендиректор]}
          - id: manager
            label: {en: Manager, ru: Менеджер}
            points: 5
          - id: student
            label: {en: Student, ru: Студент}
            knockout:
              reason: not_a_business
              offer: {en: "Here is a free guide about {{ product }}.", ru: "Вот бесплатный гид про {{ product }}."}
        next:
          - when: {answer: role, is: manager}
            to: boss
          - to: channels
      - id: boss
        kind: yesno
        parameter: budget
        text: {en: "Does your boss know?", ru: "Руководитель в курсе?"}
        options:
          - {id: yes, label: {en: "Yes", ru: "Да"}, points: 5}
          - {id: no, label: {en: "No", ru: "Нет"}, points: -5}
      - id: channels
        kind: multi
        parameter: need
        text: {en: "Which channels do you use?", ru: "Какие каналы используете?"}
        options:
          - {id: email, label: {en: Email, ru: Почта}, points: 5}
          - {id: phone, label: {en: Phone calls, ru: Звонки}, points: 5}
          - {id: chat, label: {en: Messengers, ru: Мессенджеры}, points: 5, synonyms: {en: [telegram, whatsapp], ru: [телеграм, ватсап]}}
      - id: pain
        kind: text
        parameter: need
        scoring: first
        otherwise: 1
        text: {en: "What hurts most with {{ answers.channels }}?", ru: "Что больше всего мешает с {{ answers.channels }}?"}
        rules:
          - id: losing
            points: 10
            keywords: {en: [losing leads, lost leads], ru: [теряем заявки, теряются заявки]}
          - id: slow
            points: 5
            keywords: {en: [slow], ru: [медленно]}
          - id: rent
            points: 0
            keywords: {en: [rent a laptop], ru: [аренда ноутбука]}
            knockout: {reason: wants_to_rent, offer: {en: We only sell., ru: Мы только продаём.}}
      - id: team
        kind: number
        parameter: fit
        skip_if: {answer: role, is: student}
        text: {en: "How many people work with you?", ru: "Сколько у вас сотрудников?"}
        ranges:
          - {up_to: 10, points: 0}
          - {up_to: 1000, points: 5, label: {en: more than 10, ru: больше 10}}
          - {points: -5, label: {en: more than 1000, ru: больше 1000}}
      - id: when
        kind: timeline
        parameter: timing
        text: {en: "When do you want to start?", ru: "Когда хотите начать?"}
        bands:
          - {up_to: 31, points: 10}
          - {up_to: 92, points: 5}
          - {points: 0}
        next:
          - when: {all: [{answer: when, below: 32}, {not: {score: budget, below: 10}}]}
            to: phone
          - to: why_later
      - id: why_later
        kind: text
        text: {en: "What are you waiting for?", ru: "Чего ждёте?"}
      - id: name
        kind: name
        text: {en: "Your name?", ru: "Как вас зовут?"}
      - id: phone
        kind: phone
        region: GB
        text: {en: "Your phone?", ru: "Ваш телефон?"}
      - id: email
        kind: email
        text: {en: "Your email?", ru: "Ваш email?"}
      - id: company
        kind: company
        skippable: false
        text: {en: "{{ first_name }}, your company?", ru: "{{ first_name }}, ваша компания?"}
    intents:
      - id: price
        points: 5
        fast_track: true
        phrases: {en: [how much does it cost], ru: [сколько стоит]}
        say: {en: A manager will send the prices., ru: Менеджер пришлёт цены.}
      - id: not_interested
        points: -10
        ends: true
        phrases: {en: [not interested], ru: [не интересно]}
    events:
      - {id: materials_opened, points: 3, label: {en: opened the materials, ru: открыл материалы}}
      - {id: link_clicked, points: 5, once: false}
      - {id: talk_to_person, points: 4, fast_track: true}
      - {id: opted_out, points: -10, ends: true}
    texts:
      reask: {en: "Sorry? {{ options }}", ru: "Простите? {{ options }}"}
      reask_number: {en: "A number, please.", ru: "Число, пожалуйста."}
      reask_phone: {en: "That is no phone number, {{ first_name | default('friend') }}.", ru: Это не номер.}
    closing:
      hot: {en: "Hot, {{ first_name }}: {{ total }}/{{ max_total }}.", ru: "Горячий: {{ total }}/{{ max_total }}."}
      warm: {en: "Warm: {{ percent }}%.", ru: "Тёплый: {{ percent }}%."}
      cold: {en: Cold., ru: Холодный.}
      disqualified: {en: Out., ru: Вне.}
    """
)


@pytest.fixture(scope="module")
def cf():
    return compile_text(ALL_KINDS, "allkinds.yaml")


def play(cf, inputs, lang="en", known=None):
    """Feed inputs: text, ("option", id), "<skip>", "<back>", ("event", name)."""
    step = cf.start(lang, known=known)
    steps = [step]
    for item in inputs:
        state = step.state
        if item == "<skip>":
            step = cf.skip(state)
        elif item == "<back>":
            step = cf.back(state)
        elif isinstance(item, tuple) and item[0] == "option":
            step = cf.answer(state, option=item[1])
        elif isinstance(item, tuple) and item[0] == "event":
            step = cf.event(state, item[1])
        else:
            step = cf.answer(state, item, today=TODAY)
        steps.append(step)
    return steps


def answers_by_q(state: InterviewState) -> dict[str, AnswerRecord]:
    return {a.question_id: a for a in state.answers}


# --------------------------------------------------------------------------- start, views


def test_start_asks_the_first_question_in_the_language(cf):
    step = cf.start("ru")
    assert step.outcome == "start"
    view = cf.question(step.state)
    assert view.id == "role" and view.kind == "single"
    assert view.text == "Какая у вас роль?"
    assert view.options == (("owner", "Владелец"), ("manager", "Менеджер"), ("student", "Студент"))
    assert view.index == 1 and view.total >= 5


def test_language_codes_fall_back(cf):
    assert cf.start("en-US").state.lang == "en"
    assert cf.start("ru_RU").state.lang == "ru"
    assert cf.start("de").state.lang == "en"
    assert cf.start(None).state.lang == "en"


def test_templates_use_first_name_answers_and_strings(cf):
    step = cf.start("en", known={"name": "Anna"})
    assert cf.question(step.state).text == "Anna, what is your role?"
    steps = play(cf, ["Owner"], known={"name": "Anna"})
    view = cf.question(steps[-1].state)
    assert view.id == "channels"
    steps = play(cf, ["Owner", ("option", "email")], known={"name": "Anna"})
    assert cf.question(steps[-1].state).text == "What hurts most with Email?"


def test_state_is_immutable_and_input_never_mutated(cf):
    step = cf.start("en")
    before = step.state
    after = cf.answer(before, "Owner").state
    assert before.answers == () and before.state == "role"
    assert after is not before
    with pytest.raises(FrozenInstanceError):
        after.state = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- kinds


@pytest.mark.parametrize(
    ("lang", "typed", "option"),
    [
        ("en", "Owner", "owner"),
        ("en", "owner!", "owner"),
        ("en", "  OWNER ", "owner"),
        ("en", "1", "owner"),
        ("en", "2.", "manager"),
        ("en", "founder", "owner"),
        ("ru", "Владелец", "owner"),
        ("ru", "основатель", "owner"),
        ("ru", "Менеджер", "manager"),
        ("en", "Владелец", "owner"),  # any language of the flow
        ("ru", "Manager", "manager"),
    ],
)
def test_single_choice_typed(cf, lang, typed, option):
    step = cf.answer(cf.start(lang).state, typed)
    assert step.outcome == "accepted"
    rec = step.state.answers[-1]
    assert rec.option_ids == (option,)
    assert rec.raw == typed.strip()
    assert rec.parameter == "budget"


def test_single_choice_small_typo(cf):
    step = cf.answer(cf.start("en").state, "Ownr")
    assert step.state.answers[-1].option_ids == ("owner",)


def test_single_choice_button(cf):
    step = cf.answer(cf.start("ru").state, option="manager")
    rec = step.state.answers[-1]
    assert rec.option_ids == ("manager",) and rec.points == 5 and rec.raw == "Менеджер"
    assert rec.reason == "Менеджер"
    assert step.state.state == "boss"


def test_button_of_another_question_is_stale(cf):
    state = cf.start("en").state
    assert cf.answer(state, option="email").outcome == "stale"
    assert cf.answer(state, "Owner", question="pain").outcome == "stale"
    assert cf.answer(state, "Owner", question="role").outcome == "accepted"


@pytest.mark.parametrize(
    ("typed", "option", "points"), [("yes", "yes", 5), ("нет", "no", -5), ("Да", "yes", 5)]
)
def test_yesno(cf, typed, option, points):
    steps = play(cf, ["Manager", typed])
    rec = answers_by_q(steps[-1].state)["boss"]
    assert rec.option_ids == (option,) and rec.points == points


@pytest.mark.parametrize(
    ("typed", "options"),
    [("1, 3", ("email", "chat")), ("email and telegram", ("email", "chat")), ("Почта", ("email",))],
)
def test_multi_choice(cf, typed, options):
    steps = play(cf, ["Owner", typed])
    rec = answers_by_q(steps[-1].state)["channels"]
    assert set(rec.option_ids) == set(options)
    assert rec.points == 5 * len(options)


def test_multi_choice_points_are_clamped_to_the_parameter(cf):
    flow = load_text(
        ALL_KINDS.replace(
            "points: 5}\n      - {id: phone", "points: 15}\n      - {id: phone"
        ).replace("points: 5}\n      - {id: chat", "points: 15}\n      - {id: chat")
    )
    cf2 = compile_flow(flow)
    steps = play(cf2, ["Owner", "1, 2"])
    assert answers_by_q(steps[-1].state)["channels"].points == 20  # 15 + 15, max 20


@pytest.mark.parametrize(
    ("typed", "rule", "points"),
    [
        ("we keep losing leads", "losing", 10),
        ("Мы теряем заявки постоянно", "losing", 10),
        ("it is slow and we keep losing leads", "losing", 10),  # first rule in file order
        ("everything is slow", "slow", 5),
        ("nothing in particular", None, 1),  # otherwise
    ],
)
def test_text_rules(cf, typed, rule, points):
    steps = play(cf, ["Owner", "1", typed])
    rec = answers_by_q(steps[-1].state)["pain"]
    assert rec.points == points
    assert rec.option_ids == ((rule,) if rule else ())
    assert not rec.unknown
    assert rec.value == typed


@pytest.mark.parametrize(
    ("typed", "points", "value"), [("8", 0, "8"), ("about 30", 5, "30"), ("5000", -5, "5000")]
)
def test_number_ranges(cf, typed, points, value):
    steps = play(cf, ["Owner", "1", "slow", typed])
    rec = answers_by_q(steps[-1].state)["team"]
    assert rec.parameter == "fit" and rec.points == points and rec.value == value


@pytest.mark.parametrize(
    ("typed", "points"),
    [
        ("in 2 weeks", 10),
        ("через 2 недели", 10),
        ("in 2 months", 5),
        ("some day", 0),
        ("когда-нибудь", 0),
    ],
)
def test_timeline_bands(cf, typed, points):
    steps = play(cf, ["Owner", "1", "slow", "30", typed])
    rec = answers_by_q(steps[-1].state)["when"]
    assert rec.points == points
    assert int(rec.value) > 0


def test_contacts_phone_email_company_name(cf):
    steps = play(
        cf,
        [
            "Owner",
            "1",
            "slow",
            "30",
            "in 2 weeks",
            "+44 20 7946 0958",
            "Anna@Example.com",
            "Acme Ltd",
        ],
    )
    state = steps[-1].state
    assert state.state == "done" and steps[-1].outcome == "done"
    got = answers_by_q(state)
    assert got["phone"].value == "+442079460958"
    assert got["email"].value.lower() == "anna@example.com"
    assert got["company"].value == "Acme Ltd"
    assert all(
        got[q].parameter is None and got[q].points == 0 for q in ("phone", "email", "company")
    )
    res = cf.result(state)
    assert res.contact["phone"] == "+442079460958"
    assert res.contact["company"] == "Acme Ltd"


def test_phone_with_region_and_bad_phone_reasks_with_its_own_text(cf):
    # within a month and budget 10: straight to the phone question
    steps = play(
        cf, ["Owner", "1", "slow", "30", "in 2 weeks", "hello there"], known={"name": "Bob"}
    )
    assert steps[-1].outcome == "reask"
    assert steps[-1].reask == "That is no phone number, Bob."
    steps = play(cf, ["Owner", "1", "slow", "30", "in 2 weeks", "hello there"])
    assert steps[-1].reask == "That is no phone number, friend."
    steps = play(cf, ["Owner", "1", "slow", "30", "in 2 weeks", "020 7946 0958"])
    assert answers_by_q(steps[-1].state)["phone"].value == "+442079460958"


def test_bad_email_reasks_then_unknown(cf):
    base = ["Owner", "1", "slow", "30", "in 2 weeks", "+44 20 7946 0958"]
    steps = play(cf, [*base, "not an email", "still not"])
    assert [s.outcome for s in steps[-2:]] == ["reask", "unknown"]
    assert answers_by_q(steps[-1].state)["email"].unknown


# --------------------------------------------------------------------------- re-ask, unknown


def test_reask_once_then_unknown_and_move_on(cf):
    state = cf.start("en").state
    first = cf.answer(state, "qwertyuiop zxcv")
    assert first.outcome == "reask"
    assert first.state.state == "role" and first.state.misses == 1
    assert first.reask == "Sorry? 1) Owner, 2) Manager, 3) Student"
    assert first.state.answers == ()
    second = cf.answer(first.state, "asdfgh")
    assert second.outcome == "unknown"
    rec = second.state.answers[-1]
    assert rec.unknown and rec.points == 0 and rec.reason == "not understood"
    assert second.state.state == "channels" and second.state.misses == 0


def test_reask_in_russian(cf):
    step = cf.answer(cf.start("ru").state, "ъъъ")
    assert step.reask == "Простите? 1) Владелец, 2) Менеджер, 3) Студент"


def test_empty_input_is_a_miss(cf):
    state = cf.start("en").state
    assert cf.answer(state, "").outcome == "reask"
    assert cf.answer(state, None).outcome == "reask"


@pytest.mark.parametrize("typed", ["skip", "пропустить", "don't know", "не знаю"])
def test_skip_and_dont_know_are_answers(cf, typed):
    step = cf.answer(cf.start("en").state, typed)
    assert step.outcome == "unknown"
    rec = step.state.answers[-1]
    assert rec.unknown and rec.points == 0
    res = cf.result(step.state)
    assert "budget" in res.unknowns
    assert res.parameter("budget").unknown


def test_skip_button_on_text_question(cf):
    steps = play(cf, ["Owner", "1", "<skip>"])
    rec = answers_by_q(steps[-1].state)["pain"]
    assert rec.unknown and rec.reason == "skipped"
    assert steps[-1].state.state == "team"


def test_dont_know_on_a_text_question_is_unknown_not_text(cf):
    steps = play(cf, ["Owner", "1", "не знаю"])
    assert answers_by_q(steps[-1].state)["pain"].unknown


def test_unknown_is_not_negative(cf):
    """Skipping a question with negative options scores 0, not the minimum."""
    steps = play(cf, ["Manager", "<skip>"])
    assert cf.result(steps[-1].state).parameter("budget").points == 5


def test_skippable_flag_reaches_the_view(cf):
    steps = play(cf, ["Owner", "1", "slow", "30", "in 2 weeks", "+44 20 7946 0958", "a@b.co"])
    view = cf.question(steps[-1].state)
    assert view.id == "company" and view.skippable is False
    assert cf.question(cf.start("en").state).skippable is True


# --------------------------------------------------------------------------- branches, skip_if, known


def test_branch_by_answer(cf):
    assert play(cf, ["Manager"])[-1].state.state == "boss"
    assert play(cf, ["Owner"])[-1].state.state == "channels"


def test_branch_with_all_not_score(cf):
    # budget 10 (owner) and within a month -> straight to phone (why_later and name skipped)
    steps = play(cf, ["Owner", "1", "slow", "30", "in 2 weeks"], known={"name": "Anna"})
    assert steps[-1].state.state == "phone"
    # manager (5) + boss no (-5) = 0 < 10 -> why_later
    steps = play(cf, ["Manager", "no", "1", "slow", "30", "in 2 weeks"])
    assert steps[-1].state.state == "why_later"


def test_contact_question_skipped_when_known(cf):
    steps = play(cf, ["Owner", "1", "slow", "30", "in 3 months", "later"], known={"name": "Anna"})
    assert steps[-1].state.state == "phone"  # name known from the profile
    steps = play(cf, ["Owner", "1", "slow", "30", "in 3 months", "later"])
    assert steps[-1].state.state == "name"


def test_known_phone_and_email_skip_their_questions(cf):
    known = {"name": "Anna", "phone": "+442079460958", "email": "a@b.co"}
    steps = play(cf, ["Owner", "1", "slow", "30", "in 2 weeks"], known=known)
    assert steps[-1].state.state == "company"
    assert cf.question(steps[-1].state).text == "Anna, your company?"
    res = cf.result(steps[-1].state)
    assert res.contact == {"email": "a@b.co", "name": "Anna", "phone": "+442079460958"}


def test_name_answer_becomes_first_name(cf):
    steps = play(cf, ["Owner", "1", "slow", "30", "in 3 months", "later", "Boris"])
    assert cf.question(steps[-1].state).id == "phone"
    steps = play(
        cf, ["Owner", "1", "slow", "30", "in 3 months", "later", "Boris", "+442079460958", "b@c.de"]
    )
    assert cf.question(steps[-1].state).text == "Boris, your company?"


def test_progress_follows_the_current_path(cf):
    state = cf.start("en", known={"name": "A"}).state
    done, total = cf.progress(state)
    assert done == 0
    after = cf.answer(state, "Manager").state
    assert cf.progress(after)[0] == 1
    assert cf.progress(after)[1] == total + 1  # the boss question joined the path


# --------------------------------------------------------------------------- Back


def test_back_undoes_the_last_answer(cf):
    steps = play(cf, ["Manager", "yes", "<back>"])
    state = steps[-1].state
    assert steps[-1].outcome == "back"
    assert state.state == "boss"
    assert [a.question_id for a in state.answers] == ["role"]
    # answer differently
    state = cf.answer(state, "no").state
    assert answers_by_q(state)["boss"].points == -5


def test_back_twice_and_change_branch(cf):
    steps = play(cf, ["Manager", "yes", "<back>", "<back>", "Owner"])
    assert steps[-1].state.state == "channels"
    assert [a.question_id for a in steps[-1].state.answers] == ["role"]


def test_back_over_a_skipped_question(cf):
    steps = play(cf, ["Owner", "1", "slow", "30", "in 2 weeks", "<back>"], known={"name": "A"})
    assert steps[-1].state.state == "when"


def test_back_at_start_is_stale(cf):
    assert cf.back(cf.start("en").state).outcome == "stale"


def test_back_undoes_a_knockout(cf):
    steps = play(cf, ["Student", "<back>"])
    state = steps[-1].state
    assert state.state == "role" and state.knockout is None and state.answers == ()


# --------------------------------------------------------------------------- knock-outs


def test_knockout_option_ends_with_reason_and_offer(cf):
    step = cf.answer(cf.start("ru").state, "студент")
    assert step.outcome == "out"
    assert step.state.state == "out" and step.state.knockout == "not_a_business"
    res = cf.result(step.state)
    assert (res.tier, res.stage, res.knockout) == ("disqualified", "out", "not_a_business")
    assert res.offer == "Вот бесплатный гид про нашу CRM."
    assert res.finished
    assert cf.question(step.state) is None
    assert cf.answer(step.state, "Owner").outcome == "stale"


def test_knockout_text_rule(cf):
    steps = play(cf, ["Owner", "1", "I want to rent a laptop for a week"])
    assert steps[-1].outcome == "out"
    res = cf.result(steps[-1].state)
    assert res.knockout == "wants_to_rent" and res.offer == "We only sell."


# --------------------------------------------------------------------------- intents


def test_intent_fast_tracks_and_answer_still_counts(cf):
    steps = play(cf, ["Owner", "1", "we keep losing leads - how much does it cost?"])
    step = steps[-1]
    assert step.intents == ("price",)
    assert step.fast_track
    assert step.say == ("A manager will send the prices.",)
    assert step.outcome == "accepted"
    assert answers_by_q(step.state)["pain"].points == 10
    res = cf.result(step.state)
    assert res.fast_tracked and res.tier == "hot"
    assert res.engagement_score == 5
    assert res.engagement_reasons == (("intent price", 5),)


def test_intent_alone_counts_as_a_miss_but_is_kept(cf):
    step = cf.answer(cf.start("ru").state, "А сколько стоит?")
    assert step.outcome == "reask"
    assert step.intents == ("price",) and step.fast_track
    assert step.state.fast_tracked
    assert step.state.signals[0].name == "price"


def test_intent_counts_once(cf):
    steps = play(cf, ["how much does it cost", "Owner, how much does it cost?"])
    assert [s.name for s in steps[-1].state.signals] == ["price"]
    assert not steps[-1].fast_track  # already fast-tracked
    assert cf.result(steps[-1].state).engagement_score == 5


def test_negative_intent_ends_the_interview(cf):
    steps = play(cf, ["Owner", "not interested"])
    step = steps[-1]
    assert step.outcome == "done" and step.state.state == "done"
    res = cf.result(step.state)
    assert res.engagement_score == -10
    assert res.finished


def test_fast_track_is_capped_by_fit(cf):
    steps = play(cf, ["Owner", "1", "slow, how much does it cost?", "5000"])
    res = cf.result(steps[-1].state)
    assert res.fast_tracked and res.fit_score == -5
    assert res.tier == "warm"
    assert res.caps == ("Too big for us.",)


# --------------------------------------------------------------------------- events


def test_events_score_engagement_once_unless_repeatable(cf):
    state = cf.start("en").state
    for name in ["materials_opened", "materials_opened", "link_clicked", "link_clicked"]:
        step = cf.event(state, name)
        assert step.outcome == "event"
        state = step.state
    res = cf.result(state)
    assert res.engagement_score == 3 + 5 + 5
    assert res.engagement_reasons[0] == ("event opened the materials", 3)
    assert state.state == "role"


def test_engagement_is_clamped(cf):
    state = cf.start("en").state
    for _ in range(10):
        state = cf.event(state, "link_clicked").state
    assert cf.result(state).engagement_score == 20


def test_unknown_event_is_ignored(cf):
    state = cf.start("en").state
    assert cf.event(state, "no_such_event").outcome == "stale"


def test_event_fast_track_and_ending(cf):
    step = cf.event(cf.start("en").state, "talk_to_person")
    assert step.fast_track and step.state.fast_tracked
    step = cf.event(step.state, "opted_out")
    assert step.state.state == "done"
    assert cf.result(step.state).finished


def test_events_count_after_the_interview(cf):
    steps = play(cf, ["Student"])
    state = cf.event(steps[-1].state, "materials_opened").state
    assert cf.result(state).engagement_score == 3
    assert state.state == "out"


def test_cap_at_least(cf):
    state = play(cf, ["<skip>", "<skip>", "<skip>"])[-1].state
    assert cf.result(state).tier == "cold"
    state = cf.event(state, "materials_opened").state
    assert cf.result(state).tier == "warm"


# --------------------------------------------------------------------------- result


def test_result_explains_itself(cf):
    steps = play(
        cf,
        ["Manager", "yes", "1, 2", "slow", "30", "in 2 weeks", "+442079460958", "b@c.de", "Acme"],
    )
    state = steps[-1].state
    assert state.state == "done"
    res = cf.result(state)
    assert res.points == {"budget": 10, "need": 15, "timing": 10}
    assert res.total == 35 and res.max_total == 50 and res.percent == 70.0
    assert res.tier == "warm" and res.stage == "MQL"
    need = res.parameter("need")
    assert [(a.question_id, a.points) for a in need.answers] == [("channels", 10), ("pain", 5)]
    assert need.weak is False  # 15, weak below 15
    assert res.fit_score == 5
    assert res.fit_reasons == (("team: 30: more than 10", 5),)
    assert res.unknowns == ()
    assert res.closing == "Warm: 70.0%."
    text = res.explain()
    assert "35/50" in text and "Budget: 10/20" in text


def test_next_actions_for_weak_and_unknown(cf):
    steps = play(cf, ["Manager", "<skip>", "Messengers", "<skip>", "<skip>", "<skip>"])
    res = cf.result(steps[-1].state)
    actions = dict(res.next_actions)
    assert res.parameter("budget").weak  # 5 of 20
    assert actions["budget"] == "Ask about money (5/20)."
    assert actions["need"] == "Offer a demo to confirm intent."  # weak: 5 < 15
    assert "timing" in res.unknowns and actions["timing"] == "Agree on a date."


def test_tier_thresholds_boundaries():
    flow_text = ALL_KINDS.replace(
        "fit: {min: -5, max: 5}", "thresholds: {hot: 70, warm: 30}\nfit: {min: -5, max: 5}"
    )
    cf2 = compile_text(flow_text)
    # 10 + 15 + 10 = 35 of 50 = 70 % -> hot at exactly the threshold
    steps = play(cf2, ["Manager", "yes", "1, 2", "slow", "30", "in 2 weeks"])
    assert cf2.result(steps[-1].state).tier == "hot"


def test_closing_in_russian_and_hot(cf):
    steps = play(cf, ["Owner", "1, 2, 3", "теряем заявки", "30", "через неделю"], lang="ru")
    res = cf.result(steps[-1].state)
    assert res.points == {"budget": 10, "need": 20, "timing": 10}
    assert res.tier == "hot"
    assert res.closing == "Горячий: 40/50."


# --------------------------------------------------------------------------- machine


def test_machine_is_built_once_without_auto_transitions_or_models(cf):
    machine = cf.machine
    assert machine.auto_transitions is False
    assert machine.models == []
    assert not any(name.startswith("to_") for name in machine.events)
    assert set(machine.events) == {"next", "knockout", "finish"}
    play(cf, ["Owner", "1", "slow"])
    assert machine.models == []  # nothing kept resident


def test_compiled_flows_are_cached_by_digest():
    clear_cache()
    a = compile_flow(load_text(ALL_KINDS))
    b = compile_flow(load_text(ALL_KINDS))
    assert a is b
    c = compile_flow(load_text(ALL_KINDS.replace("All kinds", "All the kinds")))
    assert c is not a and c.digest != a.digest


def test_same_interview_twice_gives_equal_states(cf):
    inputs = ["Manager", "yes", "1, 2", "slow", "30", "in 2 weeks"]
    assert play(cf, inputs)[-1].state == play(cf, inputs)[-1].state


def test_regression_choice_loose_empty_typo_candidates():
    """flows.answers.choice._loose took max() of an empty dict when a phrase word's only
    candidate failed the typo check ("я решаю" against "Решаю я, я владелец.")."""
    from flows.answers import match_option

    m = match_option("Решаю я, я владелец.", [("me", ["я решаю"]), ("other", ["zzzz"])])
    assert m is not None and m.option_id == "me"


def test_multi_choice_buttons_submit_the_toggled_set(cf):
    state = play(cf, ["Owner"])[-1].state
    step = cf.answer(state, option=("email", "chat"), question="channels")
    rec = step.state.answers[-1]
    assert rec.option_ids == ("email", "chat") and rec.points == 10
    assert rec.raw == "Email, Messengers"
    assert cf.answer(state, option=()).outcome == "stale"
    assert cf.answer(state, option=("email", "nope")).outcome == "stale"


def test_several_options_for_a_single_choice_are_stale(cf):
    state = cf.start("en").state
    assert cf.answer(state, option=("owner", "manager")).outcome == "stale"


def test_ending_intent_without_an_answer(cf):
    step = cf.answer(cf.start("ru").state, "не интересно")
    assert step.outcome == "done" and step.state.state == "done"
    assert step.state.answers == ()
    assert cf.result(step.state).engagement_score == -10
