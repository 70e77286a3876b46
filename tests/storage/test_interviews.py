"""Interviews: start (one active per lead), steps, Back, concurrency, listing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from storage import repositories as repo
from storage.database import Database
from storage.repositories import (
    ActiveInterviewExistsError,
    AnswerData,
    InterviewProgress,
    SignalData,
    StaleInterviewError,
)
from storage.tables import Answer, Interview
from tests.storage.helpers import make_interview, make_lead

BUDGET = AnswerData("budget", "budget", raw="50k", option_ids=("b50",), value="50000", points=20)
ROLE = AnswerData("role", "authority", raw="I decide", option_ids=("founder",), points=25)
PRICE = SignalData("intent", "price", 5, "price?")
OPENED = SignalData("event", "opened_link", 3)
NEED = AnswerData("need", "need", raw="crm", option_ids=("crm", "email"), points=15)


@dataclass(frozen=True)
class EngineAnswer:
    """Shaped like flows.state.AnswerRecord: storage takes it without importing flows."""

    question_id: str
    parameter: str | None
    raw: str | None
    option_ids: tuple[str, ...]
    value: str | None
    points: int
    unknown: bool
    reason: str | None


async def test_start_and_get_active(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    async with database.session() as s:
        record = await repo.get_active_interview(s, interview.lead_id)
    assert record is not None
    got = record.interview
    assert (got.id, got.status, got.state, got.flow_id, got.rev) == (
        interview.id,
        "active",
        "q1",
        "bant",
        0,
    )
    assert got.started_at == now
    assert record.answers == [] and record.signals == []


async def test_starting_again_cancels_the_active_one(database: Database, now: datetime) -> None:
    first = await make_interview(database, now)
    later = now + timedelta(hours=1)
    async with database.transaction() as s:
        second = await repo.start_interview(
            s, first.lead_id, flow_id="champ", digest="d2", lang="ru", state="c1", now=later
        )
    async with database.transaction() as s:
        with pytest.raises(ActiveInterviewExistsError) as err:
            await repo.start_interview(
                s,
                first.lead_id,
                flow_id="x",
                digest="d",
                lang="en",
                state="s",
                replace_active=False,
            )
        assert err.value.interview_id == second.id
    async with database.session() as s:
        old = await s.get(Interview, first.id)
        active = await repo.get_active_interview(s, first.lead_id)
    assert old is not None and (old.status, old.finished_at) == ("cancelled", later)
    assert active is not None and active.interview.id == second.id


async def test_start_for_unknown_lead_fails(database: Database) -> None:
    async with database.transaction() as s:
        with pytest.raises(LookupError):
            await repo.start_interview(s, 10**9, flow_id="b", digest="d", lang="en", state="q")


async def test_concurrent_starts_leave_exactly_one_active(
    database: Database, now: datetime
) -> None:
    lead = await make_lead(database, 31337, now)
    assert lead.id is not None
    lead_id = lead.id

    async def start(i: int) -> int | None:
        async with database.transaction() as s:
            interview = await repo.start_interview(
                s, lead_id, flow_id="bant", digest="d", lang="en", state=f"q{i}", now=now
            )
            return interview.id

    ids = await asyncio.gather(*(start(i) for i in range(10)))
    async with database.session() as s:
        rows = (await s.exec(select(Interview).where(col(Interview.lead_id) == lead_id))).all()
    assert len(rows) == 10 and {r.id for r in rows} == set(ids)
    assert [r.status for r in rows].count("active") == 1


async def test_save_step_appends_answers_signals_and_scores(
    database: Database, now: datetime
) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    t1 = now + timedelta(seconds=30)
    async with database.transaction() as s:
        saved = await repo.save_step(
            s,
            interview.id,
            InterviewProgress(
                state="role",
                misses=0,
                tier="cold",
                framework_score=20,
                max_score=100,
                percent=20.0,
                engagement_score=5,
            ),
            answers=[BUDGET],
            signals=[PRICE],
            expected_rev=0,
            now=t1,
        )
    assert saved.interview.rev == 1 and saved.interview.state == "role"
    assert [a.seq for a in saved.appended] == [1] and saved.superseded == []

    engine_role = EngineAnswer(
        "role", "authority", "I decide", ("founder",), None, 25, False, "founder"
    )
    async with database.transaction() as s:
        await repo.save_step(
            s,
            interview.id,
            InterviewProgress(state="need", misses=1),
            answers=[BUDGET, engine_role],
            signals=[PRICE, OPENED],
            expected_rev=1,
            now=t1,
        )
    async with database.session() as s:
        record = await repo.get_interview(s, interview.id)
    assert record is not None
    assert [(a.seq, a.question_id, a.options) for a in record.answers] == [
        (1, "budget", ("b50",)),
        (2, "role", ("founder",)),
    ]
    assert [(x.kind, x.name, x.points) for x in record.signals] == [
        ("intent", "price", 5),
        ("event", "opened_link", 3),
    ]
    assert (record.interview.state, record.interview.misses, record.interview.rev) == (
        "need",
        1,
        2,
    )
    assert record.interview.updated_at == t1


async def test_back_supersedes_and_a_new_answer_takes_a_new_seq(
    database: Database, now: datetime
) -> None:
    interview = await make_interview(database, now)
    iid = interview.id
    assert iid is not None

    async def step(state: str, answers: list[AnswerData]) -> repo.StepSaved:
        async with database.transaction() as s:
            return await repo.save_step(s, iid, InterviewProgress(state=state), answers=answers)

    await step("role", [BUDGET])
    await step("need", [BUDGET, ROLE])
    back = await step("role", [BUDGET])  # the prospect pressed Back
    assert [a.question_id for a in back.superseded] == ["role"] and back.appended == []
    changed = ROLE.__class__(**{**ROLE.__dict__, "option_ids": ("manager",), "points": 10})
    redo = await step("need", [BUDGET, changed])
    assert [a.seq for a in redo.appended] == [3]
    await step("need", [BUDGET, changed])  # same answers again: nothing new
    async with database.session() as s:
        rows = await repo.list_answers(s, iid, include_superseded=True)
        current = await repo.list_answers(s, iid)
    assert [(a.seq, a.question_id, a.superseded) for a in rows] == [
        (1, "budget", False),
        (2, "role", True),
        (3, "role", False),
    ]
    assert [(a.seq, a.options, a.points) for a in current] == [
        (1, ("b50",), 20),
        (3, ("manager",), 10),
    ]


async def test_signals_past_the_stored_ones_are_appended_once(
    database: Database, now: datetime
) -> None:
    interview = await make_interview(database, now)
    iid = interview.id
    assert iid is not None

    async def step(answers: list[AnswerData], signals: list[SignalData]) -> repo.StepSaved:
        async with database.transaction() as s:
            return await repo.save_step(
                s, iid, InterviewProgress(state="x"), answers=answers, signals=signals
            )

    assert [x.name for x in (await step([BUDGET], [PRICE])).signals_added] == ["price"]
    assert (await step([BUDGET], [PRICE])).signals_added == []  # same state saved again
    assert (await step([], [PRICE])).signals_added == []  # Back: answers undone, signals kept
    added = await step([ROLE], [PRICE, OPENED])
    assert [x.name for x in added.signals_added] == ["opened_link"]
    async with database.session() as s:
        record = await repo.get_interview(s, iid)
    assert record is not None
    assert [x.name for x in record.signals] == ["price", "opened_link"]


async def test_a_stale_writer_is_refused(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    async with database.transaction() as s:
        await repo.save_step(
            s, interview.id, InterviewProgress(state="q2"), answers=[BUDGET], expected_rev=0
        )
    with pytest.raises(StaleInterviewError):
        async with database.transaction() as s:
            await repo.save_step(
                s, interview.id, InterviewProgress(state="q9"), answers=[], expected_rev=0
            )
    async with database.session() as s:
        record = await repo.get_interview(s, interview.id)
    assert record is not None
    assert record.interview.state == "q2" and len(record.answers) == 1
    with pytest.raises(LookupError):
        async with database.transaction() as s:
            await repo.save_step(s, 10**9, InterviewProgress(state="q"), answers=[])


async def test_finishing_sets_finished_at_once(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    done_at, later = now + timedelta(minutes=3), now + timedelta(minutes=9)
    progress = InterviewProgress(
        state="done",
        status="finished",
        tier="hot",
        stage="MQL",
        framework_score=95,
        max_score=100,
        percent=95.0,
        fast_tracked=True,
    )
    async with database.transaction() as s:
        await repo.save_step(s, interview.id, progress, answers=[], now=done_at)
    async with database.transaction() as s:
        finished = await repo.update_interview(s, interview.id, last_message_id=2**40, now=later)
    assert finished.finished_at == done_at
    assert (finished.status, finished.tier, finished.stage, finished.fast_tracked) == (
        "finished",
        "hot",
        "MQL",
        True,
    )
    assert finished.last_message_id == 2**40
    async with database.session() as s:
        assert await repo.get_active_interview(s, interview.lead_id) is None
    async with database.transaction() as s:
        with pytest.raises(ValueError):
            await repo.update_interview(s, interview.id, lead_id=5)


async def test_option_ids_with_the_separator_are_refused(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    with pytest.raises(ValueError, match="option id"):
        async with database.transaction() as s:
            await repo.save_step(
                s,
                interview.id,
                InterviewProgress(state="q2"),
                answers=[AnswerData("q1", option_ids=("a,b",))],
            )


async def test_list_interviews_filters(database: Database, now: datetime) -> None:
    a = await make_interview(database, now, telegram_id=1, flow_id="bant")
    b = await make_interview(database, now + timedelta(days=1), telegram_id=2, flow_id="bant")
    c = await make_interview(database, now + timedelta(days=2), telegram_id=3, flow_id="anum")
    assert b.id is not None
    async with database.transaction() as s:
        await repo.cancel_interview(s, b.id)
    async with database.session() as s:
        all_ids = [i.id for i in await repo.list_interviews(s)]
        bant = [i.id for i in await repo.list_interviews(s, flow_id="bant")]
        window = [
            i.id
            for i in await repo.list_interviews(
                s, since=now + timedelta(hours=1), until=now + timedelta(days=2)
            )
        ]
        active = [i.id for i in await repo.list_interviews(s, statuses=["active"])]
        of_lead = [i.id for i in await repo.list_interviews(s, lead_id=c.lead_id)]
    assert all_ids == [a.id, b.id, c.id]
    assert bant == [a.id, b.id]
    assert window == [b.id]
    assert active == [a.id, c.id]
    assert of_lead == [c.id]


async def test_answers_keep_their_order_in_storage(database: Database, now: datetime) -> None:
    interview = await make_interview(database, now)
    assert interview.id is not None
    answers = [AnswerData(f"q{i}", points=i) for i in range(12)]
    async with database.transaction() as s:
        await repo.save_step(s, interview.id, InterviewProgress(state="done"), answers=answers)
    async with database.session() as s:
        rows = (await s.exec(select(Answer).order_by(col(Answer.seq)))).all()
    assert [r.question_id for r in rows] == [f"q{i}" for i in range(12)]
