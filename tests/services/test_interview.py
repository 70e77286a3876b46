"""InterviewService: steps, idempotency, restarts, stale buttons, Back, languages."""

from __future__ import annotations

from bot.services.interview import InterviewService
from bot.services.tokens import MAX_BYTES
from bot.services.types import Prospect, Reply
from storage import repositories as repo
from storage.database import Database
from tests.answers import FOUNDER
from tests.services.conftest import MakeServices, Services, prospect
from tests.services.helpers import answers, interviews, lead_count, queued


async def run_founder(
    service: InterviewService, p: Prospect | None = None, answers_: list[str] = FOUNDER
) -> list[Reply]:
    p = p or prospect()
    replies = [await service.start(p, "bant-webinar")]
    for text in answers_:
        replies.append(await service.text(p, text))
    return replies


async def test_worked_example_scores_95_hot_and_queues_one_card(
    service: InterviewService, database: Database
) -> None:
    replies = await run_founder(service)
    last = replies[-1]
    assert last.finished and last.result is not None
    assert (last.result.total, last.result.tier) == (95, "hot")
    assert last.result.points == {"budget": 25, "authority": 25, "need": 20, "timing": 25}
    assert last.lead_became_hot and last.card_queued
    assert not any(r.lead_became_hot for r in replies[:-1])
    assert [m.kind for m in last.messages] == ["closing"]
    cards = await queued(database, "card")
    assert len(cards) == 1 and cards[0].chat_id < 0
    assert "95/100" in cards[0].payload["html"]
    [iv] = await interviews(database)
    assert (iv.status, iv.tier, iv.stage, iv.framework_score, iv.source) == (
        "finished",
        "hot",
        "MQL",
        95,
        "webinar",
    )
    async with database.session() as s:
        lead = await repo.get_lead_by_telegram_id(s, 1001)
        changes = await repo.list_stage_changes(s, iv.id)
    assert lead is not None and (lead.phone, lead.email, lead.company) == (
        "+442079460958",
        "anna@acme.com",
        "Acme",
    )
    assert lead.source == "webinar"
    assert [(c.from_stage, c.to_stage, c.by_name) for c in changes] == [(None, "MQL", "bot")]


async def test_founder_without_role_and_date_is_warm_and_gets_no_card(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    await service.start(p)
    await service.text(p, FOUNDER[0])
    await service.skip(p)  # role
    await service.skip(p)  # decision team (asked: the role is unknown)
    await service.text(p, FOUNDER[2])
    await service.text(p, FOUNDER[3])
    reply = await service.skip(p)  # timing
    while not reply.finished:
        reply = await service.skip(p)
    assert reply.result is not None
    assert (reply.result.total, reply.result.tier) == (45, "warm")
    assert set(reply.result.unknowns) == {"authority", "timing"}
    assert not reply.card_queued and await queued(database, "card") == []
    # warm: a way to reach a person instead
    assert any(b.token.startswith("e:") for m in reply.messages for row in m.buttons for b in row)


async def test_duplicate_update_ids_are_applied_once(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    await service.start(p, update_id=10)
    again = await service.start(p, update_id=10)
    assert again.duplicate and again.messages == []
    first = await service.text(p, FOUNDER[0], update_id=11)
    dup = await service.text(p, FOUNDER[0], update_id=11)
    assert not first.duplicate and dup.duplicate
    [iv] = await interviews(database)
    assert len(await answers(database, iv.id)) == 1
    assert iv.state == "role"


async def test_reply_lost_in_a_crash_is_sent_again_after_restart_bug(
    service: InterviewService, database: Database, make_services: MakeServices
) -> None:
    # Bug: a process killed between an answer's commit and its reply left the prospect
    # with no next question: the redelivered update was a silent duplicate. A process
    # that has said nothing to this prospect now shows the current question again.
    p = prospect()
    await service.start(p, update_id=10)
    await service.text(p, FOUNDER[0], update_id=11)
    restarted, _ = make_services(database)
    again = await restarted.text(p, FOUNDER[0], update_id=11)
    assert not again.duplicate
    assert [m.question_id for m in again.messages] == ["role"]
    # Applied once all the same; and within one process a redelivery stays silent.
    [iv] = await interviews(database)
    assert len(await answers(database, iv.id)) == 1
    assert (await restarted.text(p, FOUNDER[0], update_id=11)).messages == []


async def test_second_start_resumes_and_never_makes_a_second_lead(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    await service.start(p)
    await service.text(p, FOUNDER[0])
    again = await service.start(p)
    assert [m.question_id for m in again.messages] == ["role"]
    assert len(await interviews(database)) == 1
    # another flow by deep link replaces the interview, still one lead
    other = await service.start(p, "champ-webinar")
    assert other.messages[-1].kind == "question"
    ivs = await interviews(database)
    assert [(i.flow_id, i.status) for i in ivs] == [("bant", "cancelled"), ("champ", "active")]
    assert await lead_count(database) == 1


async def test_restart_mid_interview_a_new_service_continues(
    service: InterviewService, database: Database, make_services: MakeServices
) -> None:
    p = prospect()
    await service.start(p)
    for text in FOUNDER[:3]:
        await service.text(p, text)
    # The bot process dies; a new one opens the same database.
    db2 = Database(database.url)
    try:
        fresh, _ = make_services(db2)
        now = await fresh.current(p)
        assert now.messages[0].question_id == "must_haves"
        for text in FOUNDER[3:]:
            reply = await fresh.text(p, text)
        assert reply.finished and reply.result is not None and reply.result.total == 95
    finally:
        await db2.dispose()


async def test_buttons_answer_and_edit_the_question_message(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    start = await service.start(p)
    question = start.messages[-1]
    assert question.question_id == "budget" and question.progress == (1, 12)
    token = question.buttons[0][0].token
    reply = await service.option(p, token, message_id=42)
    assert reply.edit_previous is not None
    assert reply.edit_previous.message_id == 42
    assert "✓ Yes, the price works for us" in reply.edit_previous.text
    assert reply.messages[-1].question_id == "role"
    # the old button again: stale, nothing changes
    [iv] = await interviews(database)
    stale = await service.option(p, token, message_id=42)
    assert stale.stale and stale.messages == [] and stale.notice
    [iv2] = await interviews(database)
    assert (iv2.rev, iv2.state) == (iv.rev, iv.state)
    assert len(await answers(database, iv.id)) == 1


async def test_buttons_of_an_old_flow_version_are_stale(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    question = (await service.start(p)).messages[-1]
    token = question.buttons[0][0].token
    kind, digest, rest = token.split(":", 2)
    old = f"{kind}:{'0' * len(digest)}:{rest}"
    for bad in (old, "garbage", "a:xx", "h:1:take", "a:" + "f" * 70):
        reply = await service.option(p, bad)
        assert reply.stale, bad
    [iv] = await interviews(database)
    assert iv.state == "budget" and iv.rev == 0


async def test_typed_answer_uses_the_noted_message_id(service: InterviewService) -> None:
    p = prospect()
    await service.start(p)
    await service.note_message(p, 99)
    reply = await service.text(p, "2")
    assert reply.edit_previous is not None and reply.edit_previous.message_id == 99
    assert "We're still setting the budget" in reply.edit_previous.text


async def test_back_changes_the_previous_answer(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    await service.start(p)
    await service.text(p, FOUNDER[0])
    role = await service.text(p, FOUNDER[1])
    assert role.messages[-1].question_id == "need"
    back_token = next(
        b.token for row in role.messages[-1].buttons for b in row if b.token.startswith("b:")
    )
    back = await service.option(p, back_token)
    assert back.messages[-1].question_id == "role"
    [iv] = await interviews(database)
    assert [a.question_id for a in await answers(database, iv.id)] == ["budget"]
    # Back again from the first question: nothing to go back to
    await service.back(p)
    first = await service.back(p)
    assert first.stale
    await service.text(p, FOUNDER[0])
    reply = await service.text(p, "I recommend it, my boss signs")
    assert reply.messages[-1].question_id == "decision_team"
    all_rows = await answers(database, iv.id, superseded=True)
    assert sum(a.superseded for a in all_rows) == 2


async def test_reask_once_then_unknown(service: InterviewService) -> None:
    p = prospect()
    await service.start(p)
    reask = await service.text(p, "purple elephants")
    assert reask.messages[-1].kind == "reask" and reask.messages[-1].buttons
    moved = await service.text(p, "more purple elephants")
    assert moved.messages[-1].question_id == "role"


async def test_garbage_burst_counts_as_one_miss_bug(service: InterviewService) -> None:
    # Bug: a burst of unreadable messages skipped questions (two misses each). Sent
    # within 2 s of the re-asked one, they are ignored; a readable one still answers;
    # a second miss after the prospect had time to read the re-ask still skips.
    p = prospect()
    await service.start(p)
    first = await service.text(p, "purple elephants", sent_at=1000.0)
    assert first.messages[-1].kind == "reask"
    for i in range(5):
        ignored = await service.text(p, f"blah {i}", sent_at=1001.0)
        assert ignored.messages == [] and not ignored.finished
    demo = await service.text(p, "can I get a demo?", sent_at=1001.0)  # an intent counts
    assert demo.messages
    p2 = prospect(1002)
    await service.start(p2)
    await service.text(p2, "purple elephants", sent_at=2000.0)
    typed = await service.text(p2, "The price is fine, we chose you", sent_at=2000.5)
    assert typed.messages[-1].question_id == "role"
    p3 = prospect(1003)
    await service.start(p3)
    await service.text(p3, "purple elephants", sent_at=3000.0)
    late = await service.text(p3, "still purple", sent_at=3010.0)
    assert late.messages[-1].question_id == "role"


async def test_multiple_choice_toggles_then_done(service: InterviewService) -> None:
    p = prospect()
    start = await service.start(p, flow="multi")
    question = start.messages[-1]
    crm = question.buttons[0][0].token
    toggled = await service.option(p, crm, message_id=5)
    assert toggled.messages == [] and toggled.edit_previous is not None
    rows = toggled.edit_previous.buttons
    assert rows[0][0].label.startswith("✓ ")
    chat = rows[2][0].token
    toggled = await service.option(p, chat, message_id=5)
    done = next(b.token for row in toggled.edit_previous.buttons for b in row if b.token[0] == "m")
    reply = await service.option(p, done, message_id=5)
    assert reply.messages[-1].question_id == "size"
    reply = await service.text(p, "50")
    assert reply.result is not None
    assert reply.result.points["need"] == 10  # crm 5 + chat 2 + size 5, clamped to 10


async def test_every_button_token_fits_64_bytes(service: InterviewService) -> None:
    from bot.services.tokens import fit

    registry = service.registry
    for flow_id in registry.builtin_ids():
        compiled = registry.builtin(flow_id)
        for qp in compiled.program.questions.values():
            for i, option in enumerate(qp.option_ids):
                assert (
                    len(fit("a", compiled.digest, qp.id, qp.index, option, i).encode()) <= MAX_BYTES
                )
    long_q, long_o = "q" * 32, "o" * 32
    # ids that would overflow: the question becomes its index, the option still fits
    assert fit("a", "d" * 64, long_q, 3, long_o, 7) == f"a:dddddddd:#3:{long_o}"
    assert fit("a", "d" * 64, "q", 3, "o" * 60, 7) == "a:dddddddd:#3:#7"


async def test_cancel_stop_and_start_again(service: InterviewService, database: Database) -> None:
    p = prospect()
    await service.start(p)
    cancelled = await service.cancel(p)
    assert cancelled.messages and (await interviews(database))[0].status == "cancelled"
    assert (await service.cancel(p)).messages[0].text  # nothing to cancel, still polite
    await service.start(p)
    stopped = await service.stop(p)
    assert stopped.messages
    ivs = await interviews(database)
    assert ivs[-1].status == "cancelled"
    async with database.session() as s:
        lead = await repo.get_lead_by_telegram_id(s, 1001)
        signals = (await repo.get_interview(s, ivs[-1].id)).signals
    assert lead is not None and lead.opted_out
    assert [x.name for x in signals] == ["opted_out"]
    after = await service.text(p, "hello?")
    assert "/start" in after.messages[0].text and len(await interviews(database)) == 2
    back = await service.start(p)
    assert back.messages[-1].kind == "question"
    async with database.session() as s:
        lead = await repo.get_lead_by_telegram_id(s, 1001)
    assert lead is not None and not lead.opted_out


async def test_stop_drops_messages_queued_for_the_prospect(
    services: Services, database: Database
) -> None:
    from tests.services.conftest import SALES

    service, handoff = services
    p = prospect()
    await run_founder(service, p)
    [card] = await queued(database, "card")
    await handoff.press(SALES, f"h:{card.payload['handoff_id']}:take")
    [told] = await queued(database, "message")
    assert told.status == "pending" and "Boris" in told.payload["text"]
    await service.stop(p)
    [told] = await queued(database, "message")
    assert told.status == "cancelled"
    [card] = await queued(database, "card")
    assert card.status == "pending"  # the card is for sales, not the prospect


async def test_text_without_an_interview(service: InterviewService, database: Database) -> None:
    p = prospect(user_id=2002)
    first = await service.text(p, "hi")  # wrote before pressing Start
    assert first.messages[-1].question_id == "budget"
    assert len(await interviews(database, 2002)) == 1


async def test_language_switch_mid_interview(service: InterviewService, database: Database) -> None:
    p = prospect()
    await service.start(p)
    menu = await service.set_language(p)
    assert {b.token for row in menu.messages[0].buttons for b in row} >= {"l:en", "l:ru"}
    reply = await service.option(p, "l:ru")
    assert reply.messages[0].text == "Хорошо, дальше по-русски."
    assert "Есть ли на это бюджет" in reply.messages[-1].text
    [iv] = await interviews(database)
    assert iv.lang == "ru"
    reply = await service.text(p, "Мы выбрали ваш продукт, цена нас устраивает.")
    assert reply.messages[-1].question_id == "role"


async def test_russian_profile_gets_russian(service: InterviewService) -> None:
    reply = await service.start(prospect(user_id=3003, lang="ru"))
    assert reply.lang == "ru" and "бюджет" in reply.messages[-1].text


async def test_contact_answers_the_phone_question(service: InterviewService) -> None:
    p = prospect()
    await service.start(p)
    for text in FOUNDER[:9]:
        reply = await service.text(p, text)
    assert reply.messages[-1].request_contact
    reply = await service.contact(p, "+44 20 7946 0958")
    assert reply.messages[-1].question_id == "email"


async def test_forget_erases_personal_data_and_edits_sent_cards(
    services: Services, database: Database
) -> None:
    service, handoff = services
    p = prospect()
    await run_founder(service, p)
    [card] = await queued(database, "card")
    await handoff.card_sent(card.payload["handoff_id"], 555)
    reply = await service.forget(p)
    assert reply.messages
    async with database.session() as s:
        lead = await repo.get_lead_by_telegram_id(s, 1001)
    assert lead is not None and lead.forgotten and lead.phone is None and lead.first_name is None
    edits = await queued(database, "card_edit")
    assert len(edits) == 1 and "Anna" not in edits[0].payload["html"]
    assert "erase" in edits[0].payload["html"]


async def test_privacy_and_help(service: InterviewService) -> None:
    assert "/forget" in service.privacy("en").messages[0].text
    assert "/restart" in service.help("ru").messages[0].text


async def test_blocked_mid_interview(service: InterviewService, database: Database) -> None:
    p = prospect()
    await service.start(p)
    await service.text(p, FOUNDER[0])
    await service.mark_blocked(p.chat_id)
    await service.mark_blocked(424242)  # unknown chat: nothing happens
    [iv] = await interviews(database)
    async with database.session() as s:
        lead = await repo.get_lead_by_telegram_id(s, 1001)
        record = await repo.get_interview(s, iv.id)
    assert lead is not None and lead.blocked
    assert iv.status == "cancelled" and [x.name for x in record.signals] == ["blocked"]
    await service.mark_unblocked(p.chat_id)
    async with database.session() as s:
        lead = await repo.get_lead_by_telegram_id(s, 1001)
    assert lead is not None and not lead.blocked


async def test_two_updates_of_one_chat_at_once(
    service: InterviewService, database: Database, make_services: MakeServices
) -> None:
    """Two processes step the same interview at once: both answers land, in turn."""
    import asyncio

    p = prospect()
    await service.start(p)
    db2 = Database(database.url)
    try:
        other, _ = make_services(db2)
        a, b = await asyncio.gather(
            # "skip" answers whichever question is current, so the order does not matter
            service.text(p, "skip", update_id=1),
            other.text(p, "skip", update_id=2),
        )
    finally:
        await db2.dispose()
    [iv] = await interviews(database)
    stored = await answers(database, iv.id)
    assert len(stored) == 2 and iv.rev == 2
    assert not a.duplicate and not b.duplicate


async def test_an_interview_whose_flow_vanished_is_ended_not_stuck(
    service: InterviewService, database: Database
) -> None:
    p = prospect()
    await service.start(p)
    [iv] = await interviews(database)
    async with database.transaction() as s:
        await repo.update_interview(s, iv.id, state="budget")
        # simulate a version nobody can load any more
        from sqlalchemy import update

        from storage.tables import FlowVersion, Interview

        await s.exec(update(Interview).values(digest="f" * 64, flow_version_id=None))
        await s.exec(update(FlowVersion).values(digest="e" * 64))
    reply = await service.text(p, "hello")
    assert "/start" in reply.messages[0].text
    assert (await interviews(database))[0].status == "cancelled"
    again = await service.start(p)
    assert again.messages[-1].question_id == "budget"
