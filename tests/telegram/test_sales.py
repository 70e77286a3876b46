"""Hot leads reach the sales chat, and only the sales team can act on the card."""

from __future__ import annotations

import logging

import pytest
from aiogram.exceptions import TelegramForbiddenError
from sqlmodel import col, select

from storage import repositories as repo
from storage.tables import Handoff, Lead, Outbox, StageChange
from tests.answers import FOUNDER
from tests.fakebot import FakeUser, StoredMessage
from tests.telegram.conftest import ADMIN_ID, TgEnv, eventually
from tests.telegram.test_prospect import begin

DEMO = "Could you show me a demo?"


def is_card(message: StoredMessage) -> bool:
    return bool(message.has_inline_keyboard and message.html)


async def hot_lead(user: FakeUser) -> None:
    """A prospect whose intent fast-tracks them to sales at once."""
    await begin(user)
    user.send(DEMO)


async def test_hot_lead_card_in_topic_taken_by_a_salesperson(tg: TgEnv) -> None:
    tg.fake.require_callback_answers = True
    forum = tg.fake.group("Leads", forum=True, topics={42: "Hot leads"})
    forum.set_member(tg.seller, "member")
    await tg.start(settings=tg.settings(sales_chat_id=forum.id, sales_topic_id=42))
    alice = tg.user("Alice", username="alice_b")
    await begin(alice)
    for text in FOUNDER:
        alice.send(text)
        await alice.next_message()
    card = await forum.next_message(is_card)
    assert card.thread_id == 42
    assert "Alice" in (card.text or "")
    assert card.button_texts[:1] == ["Take"]

    # A stranger (not in the sales chat, not an admin) is refused with an alert.
    stranger = tg.user("Eve")
    forum.click(stranger.tg, "Take", message=card.message_id)
    await tg.fake.wait_idle()
    refusal = tg.fake.calls_to("answerCallbackQuery")[-1]
    assert refusal.params.get("show_alert") is True
    assert "sales team" in refusal.params.get("text", "")
    assert not (tg.fake.get_message(forum.id, card.message_id) or card).edited

    forum.click(tg.seller, "Take", message=card.message_id)
    edited = await tg.fake.wait_for_edit(forum.id, card.message_id)
    assert "Taken by Sam" in (edited.text or "")
    told = await alice.next_message(lambda m: "Sam" in (m.text or ""))
    assert "will write to you" in told.text

    async with tg.database.session() as s:
        handoff = (await s.exec(select(Handoff))).one()
        stages = (await s.exec(select(StageChange).order_by(col(StageChange.id)))).all()
    assert handoff.status == "taken" and handoff.taken_by == tg.seller.id
    assert stages[-1].to_stage == "SAL" and stages[-1].by_user == tg.seller.id


async def test_fast_tracked_card_not_a_fit_with_reason_and_admin_presses(tg: TgEnv) -> None:
    tg.fake.require_callback_answers = True
    await tg.start()
    alice = tg.user("Alice")
    await hot_lead(alice)
    card = await tg.sales.next_message(is_card)
    # The interview goes on; the card is edited in place as answers come in.
    alice.send(FOUNDER[0])
    await tg.fake.wait_for_edit(tg.sales.id, card.message_id)

    boss = tg.fake.user("Boss", id=ADMIN_ID)  # an admin, not a member of the sales chat
    tg.sales.click(boss.tg, "Not a fit", message=card.message_id)
    with_reasons = await tg.fake.wait_for_edit(
        tg.sales.id, card.message_id, lambda m: "No budget" in m.button_texts
    )
    tg.sales.click(boss.tg, "No budget", message=with_reasons.message_id)
    await tg.fake.wait_for_edit(tg.sales.id, card.message_id, lambda m: "Nurture" in m.button_texts)
    async with tg.database.session() as s:
        stage = (await s.exec(select(StageChange).order_by(col(StageChange.id).desc()))).first()
    assert stage is not None and stage.to_stage == "out" and stage.reason == "budget"
    assert stage.by_user == ADMIN_ID


async def test_sales_group_migrated_to_supergroup_is_followed(
    tg: TgEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.telegram.sales_chat")
    bot = await tg.start()
    new_id = tg.sales.migrate()
    alice = tg.user("Alice")
    await hot_lead(alice)
    card = await tg.fake.wait_for_message(new_id, is_card)
    assert bot.app.sales_chat.chat_id == new_id
    assert any(
        "migrated" in r.getMessage() and str(new_id) in r.getMessage() for r in caplog.records
    )

    async def attached() -> Handoff | None:
        async with tg.database.session() as s:
            handoff = (await s.exec(select(Handoff))).one()
        return handoff if handoff.message_id is not None else None

    handoff = await eventually(attached)
    assert (handoff.chat_id, handoff.message_id) == (new_id, card.message_id)
    async with tg.database.session() as s:
        saved = await repo.get_setting(s, f"sales_chat_migrated:{tg.sales.chat.id}")
    assert saved == str(new_id)
    # A press on the migrated chat's card by a member still works.
    tg.fake.set_member(new_id, tg.seller.id, "member")
    tg.fake.click(tg.seller.tg, card.message_id, "Take", chat_id=new_id)
    await tg.fake.wait_for_edit(new_id, card.message_id)
    assert await bot.stop() == 0

    # After a restart the recorded migration is followed from the start.
    again = await tg.start()
    assert again.app.sales_chat.chat_id == new_id


async def lead_of(tg: TgEnv, telegram_id: int) -> Lead:
    async with tg.database.session() as s:
        return (await s.exec(select(Lead).where(col(Lead.telegram_id) == telegram_id))).one()


async def test_blocked_prospect_is_marked_and_not_written_to(tg: TgEnv) -> None:
    bot = await tg.start()
    alice, bob = tg.user("Alice"), tg.user("Bob")
    await hot_lead(alice)
    card = await tg.sales.next_message(is_card)
    tg.fake.block(alice.id)  # silently: the bot learns it from a 403
    tg.sales.click(tg.seller, "Take", message=card.message_id)

    async def blocked(telegram_id: int) -> bool:
        return (await lead_of(tg, telegram_id)).blocked

    async def told_dead() -> bool:
        async with tg.database.session() as s:
            told = (await s.exec(select(Outbox).where(col(Outbox.kind) == "message"))).one()
        return told.status == "dead"  # given up at once: retrying a 403 cannot help

    assert await eventually(lambda: blocked(alice.id))
    assert await eventually(told_dead)
    assert alice.id in bot.app.retry.blocked
    sends = len(tg.fake.calls_to("sendMessage"))
    # Nothing more leaves for Alice: the bot refuses locally instead of asking Telegram.
    with pytest.raises(TelegramForbiddenError):
        await bot.app.bot.send_message(alice.id, "still there?")
    assert len(tg.fake.calls_to("sendMessage")) == sends

    # Bob blocks the bot in the app: Telegram's my_chat_member says so before any 403.
    await begin(bob)
    bob.block()
    assert await eventually(lambda: blocked(bob.id))
    bob.unblock()

    async def unblocked() -> bool:
        return not await blocked(bob.id)

    assert await eventually(unblocked)


async def test_card_waits_while_the_bot_is_out_of_the_sales_chat(
    tg: TgEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """A lost card is a lost deal: a 403 in the sales chat keeps the card queued (with
    a clear error in the log) until someone adds the bot back."""
    caplog.set_level(logging.ERROR, logger="bot.telegram.outbox_worker")
    tg.fake.set_bot_status(tg.sales.id, "kicked")
    await tg.start()
    alice = tg.user("Alice")
    await hot_lead(alice)
    await tg.fake.wait_until(
        lambda: sum(c.status == 403 for c in tg.fake.calls_to("sendMessage")) >= 3
    )
    assert any("Check that the bot is in the sales chat" in r.getMessage() for r in caplog.records)
    tg.fake.set_bot_status(tg.sales.id, "administrator")
    card = await tg.sales.next_message(is_card)
    assert "Alice" in (card.text or "")

    async def sent() -> bool:
        async with tg.database.session() as s:
            row = (await s.exec(select(Outbox).where(col(Outbox.kind) == "card"))).one()
        return row.status == "sent" and row.attempts <= 1  # the waits used no attempts

    assert await eventually(sent)


async def answer_warm(user: FakeUser) -> StoredMessage:
    """Answer BANT with buttons, skipping the role and the timing (DOMAIN.md's warm
    variant), and return the closing message."""
    await begin(user)
    question = user.last_message
    assert question is not None
    while (question.text or "")[:1].isdigit():
        text = question.text or ""
        options = [b for b in question.button_texts if b not in ("← Back", "Skip")]
        if not question.has_inline_keyboard:  # the phone: a reply keyboard
            user.send("Skip")
        elif "part in choosing" in text or "up and running" in text or not options:
            user.click("Skip", message=question)
        else:
            user.click(options[0], message=question)
        question = await user.next_message()
    return question


async def test_warm_closing_offers_a_person_and_the_press_is_scored(tg: TgEnv) -> None:
    tg.fake.require_callback_answers = True
    await tg.start()
    alice = tg.user("Alice")
    closing = await answer_warm(alice)
    assert "stay in touch" in (closing.text or "")  # the warm tier's closing
    assert tg.sales.messages() == []  # warm: no card
    alice.click("Talk to a person", message=closing)
    said = await alice.next_message()
    assert "person" in (said.text or "")
    # An engagement event the flow fast-tracks: the lead goes to sales now.
    card = await tg.sales.next_message(is_card)
    assert "Alice" in (card.text or "") and "asked for a person" in (card.text or "")
