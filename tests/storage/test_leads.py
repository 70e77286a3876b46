"""Leads: race-safe get-or-create, updates, forgetting personal data."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from storage import outbox
from storage import repositories as repo
from storage.database import Database
from storage.repositories import AnswerData, InterviewProgress, SignalData
from storage.tables import Answer, Lead, Outbox, Signal
from tests.storage.helpers import make_interview

GROUP_CHAT = -1001234567890  # does not fit in 32 bits


async def test_get_or_create_creates_once_and_keeps_profile_from_insert(
    database: Database, now: datetime
) -> None:
    async with database.transaction() as s:
        lead, created = await repo.get_or_create_lead(
            s, 5_000_000_001, now=now, username="ann", first_name="Ann", language="ru"
        )
    assert created and lead.id is not None
    assert (lead.telegram_id, lead.username, lead.language) == (5_000_000_001, "ann", "ru")
    assert lead.created_at == now

    async with database.transaction() as s:
        again, created = await repo.get_or_create_lead(
            s, 5_000_000_001, now=now + timedelta(days=1), username="other"
        )
    assert not created
    assert (again.id, again.username, again.created_at) == (lead.id, "ann", now)


async def test_concurrent_get_or_create_of_one_user_never_fails(
    database: Database, now: datetime
) -> None:
    async def one() -> tuple[int | None, bool]:
        async with database.transaction() as s:
            lead, created = await repo.get_or_create_lead(s, 424242, now=now, first_name="A")
            return lead.id, created

    results = await asyncio.gather(*(one() for _ in range(20)))
    assert len({lead_id for lead_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with database.session() as s:
        assert len((await s.exec(select(Lead))).all()) == 1


async def test_update_lead_sets_known_fields_only(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        lead, _ = await repo.get_or_create_lead(s, 7, now=now)
        assert lead.id is not None
        later = now + timedelta(minutes=5)
        updated = await repo.update_lead(
            s, lead.id, now=later, phone="+4915112345678", company="Acme", opted_out=True
        )
        assert (updated.phone, updated.company, updated.opted_out) == (
            "+4915112345678",
            "Acme",
            True,
        )
        assert updated.updated_at == later
        with pytest.raises(ValueError, match="telegram_id"):
            await repo.update_lead(s, lead.id, telegram_id=8)
        with pytest.raises(LookupError):
            await repo.update_lead(s, 10**9, phone="x")
    async with database.session() as s:
        found = await repo.get_lead_by_telegram_id(s, 7)
    assert found is not None and found.company == "Acme"


async def test_forget_erases_personal_data_and_keeps_numbers(
    database: Database, now: datetime
) -> None:
    interview = await make_interview(database, now, telegram_id=99)
    assert interview.id is not None
    lead_id = interview.lead_id
    async with database.transaction() as s:
        await repo.update_lead(
            s, lead_id, username="ann", last_name="Lee", phone="+1", email="a@b.c", company="Co"
        )
        await repo.save_step(
            s,
            interview.id,
            InterviewProgress(state="q3", tier="hot", framework_score=80, stage="MQL"),
            answers=[
                AnswerData("budget", "budget", raw="about 50k", value="50000", points=25),
                AnswerData("phone", None, raw="+1 555", value="+1555", points=0),
            ],
            signals=[SignalData("intent", "price", 5, raw="how much is it?")],
            now=now,
        )
        card = await outbox.enqueue(
            s, "card", GROUP_CHAT, {"name": "Ann Lee"}, "card:1", lead_id=lead_id, now=now
        )
        other = await outbox.enqueue(s, "card", GROUP_CHAT, {"name": "Bob"}, "card:2", now=now)

    async with database.transaction() as s:
        assert await repo.forget_lead(s, lead_id, now=now) is True
        assert await repo.forget_lead(s, 10**9, now=now) is False

    async with database.session() as s:
        lead = await s.get(Lead, lead_id)
        answers = (await s.exec(select(Answer))).all()
        signals = (await s.exec(select(Signal))).all()
        queued = {o.id: o for o in (await s.exec(select(Outbox))).all()}
        record = await repo.get_interview(s, interview.id)
    assert lead is not None and lead.forgotten
    assert (lead.username, lead.first_name, lead.last_name) == (None, None, None)
    assert (lead.phone, lead.email, lead.company) == (None, None, None)
    assert lead.telegram_id == 99  # kept: the user may come back; opted-out state needs it
    assert [(a.raw, a.value, a.points) for a in answers] == [(None, None, 25), (None, None, 0)]
    assert [(x.raw, x.points) for x in signals] == [(None, 5)]
    assert (queued[card].status, queued[card].payload) == ("cancelled", {})
    assert (queued[other].status, queued[other].payload) == ("pending", {"name": "Bob"})
    assert record is not None
    assert (record.interview.tier, record.interview.framework_score) == ("hot", 80)


async def test_list_leads(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        await repo.get_or_create_lead(s, 1, now=now)
        b, _ = await repo.get_or_create_lead(s, 2, now=now)
        assert b.id is not None
        await repo.forget_lead(s, b.id)
    async with database.session() as s:
        assert [x.telegram_id for x in await repo.list_leads(s)] == [1, 2]
        assert [x.telegram_id for x in await repo.list_leads(s, include_forgotten=False)] == [1]
