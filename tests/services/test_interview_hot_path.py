"""The interview's hot path: one transaction per update, rows kept between steps,
question message ids noted without a transaction of their own.

Two services on one database stand for two processes (no shared memory)."""

from __future__ import annotations

from bot.services.interview import InterviewService
from storage import repositories as repo
from storage.database import Database
from tests.answers import FOUNDER
from tests.services.conftest import MakeServices, prospect
from tests.services.helpers import answers, interviews


async def test_note_message_is_written_in_the_next_transaction_of_another_chat(
    database: Database, make_services: MakeServices
) -> None:
    service, _ = make_services(database)
    anna, bob = prospect(1001, "Anna"), prospect(1002, "Bob")
    await service.start(anna)
    await service.note_message(anna, 77)  # no transaction of its own
    [iv] = await interviews(database, 1001)
    assert iv.last_message_id is None
    await service.start(bob)  # any later transaction of this service writes it
    [iv] = await interviews(database, 1001)
    assert iv.last_message_id == 77
    # Another process handles Anna's typed answer: it edits the right message.
    other, _ = make_services(database)
    reply = await other.text(anna, FOUNDER[0])
    assert reply.edit_previous is not None and reply.edit_previous.message_id == 77


async def test_an_answered_question_message_is_never_edited_again_by_another_process(
    database: Database, make_services: MakeServices
) -> None:
    service, _ = make_services(database)
    other, _ = make_services(database)
    anna = prospect()
    await service.start(anna)
    await service.note_message(anna, 77)
    first = await service.text(anna, FOUNDER[0])
    assert first.edit_previous is not None and first.edit_previous.message_id == 77
    await service.note_message(anna, 78)  # the next question, not written yet
    # The next answer reaches another process, which never heard of 78: it must not
    # edit 77 (answered already) with this answer; no edit is better than a wrong one.
    second = await other.text(anna, FOUNDER[1])
    assert second.edit_previous is not None and second.edit_previous.message_id is None
    # And the first process's late note for 78 is stale now: never written.
    await service.start(prospect(1002, "Bob"))
    [iv] = await interviews(database, 1001)
    assert iv.last_message_id is None


async def test_kept_rows_follow_steps_made_by_another_process(
    database: Database, make_services: MakeServices
) -> None:
    one, _ = make_services(database)
    two, _ = make_services(database)
    anna = prospect()
    await one.start(anna)
    services: list[InterviewService] = [one, two, one, one, two]
    for service, text in zip(services, FOUNDER, strict=False):
        reply = await service.text(anna, text)
        assert not reply.stale and not reply.duplicate
    [iv] = await interviews(database)
    rows = await answers(database, iv.id, superseded=True)
    assert [a.seq for a in rows] == list(range(1, len(rows) + 1))
    assert len({a.question_id for a in rows if not a.superseded}) == len(
        [a for a in rows if not a.superseded]
    )
    # Back in one process, then an answer in the other: seq numbers stay unique.
    back = next(b.token for row in reply.messages[-1].buttons for b in row if b.token[0] == "b")
    await one.option(anna, back)
    await two.text(anna, FOUNDER[4])
    rows = await answers(database, iv.id, superseded=True)
    assert len({a.seq for a in rows}) == len(rows)
    assert sum(a.superseded for a in rows) == 1


async def test_forget_bumps_rev_so_kept_rows_are_not_reused(
    database: Database, service: InterviewService
) -> None:
    anna = prospect()
    await service.start(anna)
    await service.text(anna, FOUNDER[0])
    [iv] = await interviews(database)
    async with database.transaction() as s:
        await repo.forget_lead(s, iv.lead_id)
    [after] = await interviews(database)
    assert after.rev == iv.rev + 1
    rows = service._rows.get(after)  # the kept rows still hold the raw text
    assert rows is None
