"""The prospect's side end to end, in polling mode: aiogram's real HTTP client
against the fake Bot API, on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from storage import repositories as repo
from storage.database import Database
from storage.tables import Answer, Lead
from tests.answers import FOUNDER
from tests.fakebot import FakeUser
from tests.telegram.conftest import TgEnv


async def begin(user: FakeUser) -> None:
    """/start and read the greeting and the first question."""
    user.start()
    await user.next_message()  # the greeting
    await user.next_message(lambda m: m.text.startswith("1/"))


async def answers_of(db: Database, telegram_id: int) -> list[Answer]:
    async with db.session() as s:
        lead = await repo.get_lead_by_telegram_id(s, telegram_id)
        assert lead is not None and lead.id is not None
        record = await repo.get_active_interview(s, lead.id)
        assert record is not None
        return list(record.answers)


async def test_buttons_and_typing_with_progress_and_edits(tg: TgEnv) -> None:
    tg.fake.require_callback_answers = True  # every press must be answered
    await tg.start()
    alice = tg.user("Alice")
    alice.start()
    hello = await alice.next_message()
    assert "Alice" in hello.text
    q1 = await alice.next_message()
    assert q1.text.startswith("1/") and q1.has_inline_keyboard

    alice.click("Yes, the price works")
    q2 = await alice.next_message()
    assert q2.text.startswith("2/")
    # The answered question shows the choice and loses its buttons.
    q1_now = tg.fake.get_message(alice.id, q1.message_id)
    assert q1_now is not None and "✓ Yes, the price works for us" in q1_now.text
    assert not q1_now.has_inline_keyboard

    alice.send("I'm the founder, the final decision is mine.")
    q3 = await alice.next_message()
    assert q3.text.startswith("3/")
    await tg.fake.wait_idle()
    q2_now = tg.fake.get_message(alice.id, q2.message_id)
    assert q2_now is not None and "✓" in (q2_now.text or "")

    alice.click("Back")  # change the previous answer
    again = await alice.next_message()
    assert again.text.startswith("2/")
    alice.click("I make the final decision")
    assert (await alice.next_message()).text.startswith("3/")
    await tg.fake.wait_idle()
    answers = await answers_of(tg.database, alice.id)
    assert [a.question_id for a in answers] == ["budget", "role"]
    assert answers[1].option_ids == "decider"


async def test_stale_and_forged_buttons_are_answered_politely(tg: TgEnv) -> None:
    tg.fake.require_callback_answers = True
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    q1 = alice.last_message
    assert q1 is not None
    old_data = q1.button("Yes, the price works").get("callback_data")
    alice.click("Yes, the price works")
    await alice.next_message(lambda m: m.text.startswith("2/"))

    # The same button again (its message lost the keyboard, so forced), then made-up data.
    before = len(tg.fake.calls_to("answerCallbackQuery"))
    alice.click(data=old_data, message=q1.message_id, force=True)
    alice.click(data="a:00000000:budget:ready", message=q1.message_id, force=True)
    alice.click(data="h:999999:take", message=q1.message_id, force=True)
    alice.click(data="garbage", message=q1.message_id, force=True)
    await tg.fake.wait_until(lambda: len(tg.fake.calls_to("answerCallbackQuery")) >= before + 4)
    answers = tg.fake.calls_to("answerCallbackQuery")[before:]
    assert len(answers) == 4
    assert all(c.ok for c in answers)
    assert all(c.params.get("text") for c in answers)  # a word, not a silent spinner stop
    assert [a.question_id for a in await answers_of(tg.database, alice.id)] == ["budget"]


async def test_unreadable_content_gets_one_nudge_and_edits_are_ignored(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    alice.send_sticker()
    nudge = await alice.next_message()
    assert "text" in nudge.text
    again = await alice.next_message()
    assert again.text.startswith("1/")  # back to the current question
    for send in (alice.send_photo, alice.send_voice, alice.send_location):
        send()  # a flood right after: no answer to each
    first = alice.send("We compared the market and chose your product. The price is fine.")
    assert (await alice.next_message()).text.startswith("2/")
    alice.edit(tg.fake.get_message(alice.id, 1).message_id, "changed my mind")  # type: ignore[union-attr]
    alice.send("I'm the founder, the final decision is mine.")
    assert (await alice.next_message()).text.startswith("3/")
    await tg.fake.wait_idle()
    assert first > 0
    said = [m.text for m in alice.messages if m.from_bot]
    assert sum("I can only read text" in (t or "") for t in said) == 1


async def test_duplicate_updates_are_applied_once(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    update = tg.fake.push_update(
        tg.fake.factory.text(alice.tg, "We chose your product, the price is fine."), copies=2
    )
    assert (await alice.next_message()).text.startswith("2/")
    await tg.settle()
    tg.fake.redeliver(update)  # once more, later
    await tg.settle()
    assert [a.question_id for a in await answers_of(tg.database, alice.id)] == ["budget"]
    questions = [m for m in alice.messages if m.from_bot and (m.text or "").startswith("2/")]
    assert len(questions) == 1


async def test_restart_mid_interview_continues_where_the_prospect_left_off(tg: TgEnv) -> None:
    first = await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    handled = []
    for text in FOUNDER[:2]:
        handled.append(alice.send(text))
        await alice.next_message(lambda m: m.text[:1].isdigit())
    assert await first.stop() == 0

    # A new process: new Database object on the same database, new services and dispatcher.
    fresh = Database(tg.database.url)
    try:
        await tg.start(database=fresh)
        alice.send(FOUNDER[2])
        nxt = await alice.next_message(lambda m: m.text[:1].isdigit())
        assert nxt.text.startswith("4/")
        # An update the first process applied, delivered again to the new one (whose
        # memory is empty): the database's processed_update mark stops it.
        tg.fake.redeliver(handled[-1])
        await tg.settle()
        answers = await answers_of(fresh, alice.id)
        assert [a.question_id for a in answers] == ["budget", "role", "need"]
        assert not [m for m in alice.messages if m.from_bot and m.seq > nxt.seq]
        for bot in tg.running:
            if not bot.task.done():
                assert await bot.stop() == 0
    finally:
        await fresh.dispose()


async def test_phone_question_offers_the_contact_keyboard(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    for text in FOUNDER[:-2]:
        alice.send(text)
        await alice.next_message(lambda m: m.text[:1].isdigit())
    keyboard = alice.reply_keyboard
    assert keyboard is not None, "the phone question shows a reply keyboard"
    buttons = [b for row in keyboard["keyboard"] for b in row]
    assert any(b.get("request_contact") for b in buttons)
    alice.share_contact("+44 20 7946 0958")
    await alice.next_message()
    await tg.fake.wait_idle()
    async with tg.database.session() as s:
        lead = (await s.exec(select(Lead).where(col(Lead.telegram_id) == alice.id))).one()
    assert lead.phone == "+442079460958"


async def test_commands(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice", language_code="en")
    await begin(alice)
    for command in ("help", "privacy"):
        alice.command(command)
        assert (await alice.next_message()).text
    alice.command("language", "ru")
    assert (await alice.next_message()).text
    alice.command("cancel")
    assert (await alice.next_message()).text
    alice.command("admin")  # not an admin: treated like any unknown command
    reply = await alice.next_message()
    assert "admin" not in (reply.text or "").lower()
    alice.command("stop")
    assert (await alice.next_message()).text
    alice.command("forget")
    assert (await alice.next_message()).text
    await tg.fake.wait_idle()


async def test_admin_reaches_the_admin_router(tg: TgEnv) -> None:
    from tests.telegram.conftest import ADMIN_ID

    await tg.start()
    boss = tg.fake.user("Boss", id=ADMIN_ID)
    boss.command("admin")
    reply = await boss.next_message()
    assert "admin" in (reply.text or "").lower()


async def test_a_handler_error_is_isolated_with_an_apology(tg: TgEnv) -> None:
    bot = await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    service = bot.app.interview
    original = service.text
    calls = 0

    async def broken(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in a handler")
        return await original(*args, **kwargs)

    service.text = broken
    alice.send("We chose your product, the price is fine.")
    apology = await alice.next_message()
    assert "sorry" in apology.text.lower()
    alice.send("We chose your product, the price is fine.")
    assert (await alice.next_message()).text.startswith("2/")
    assert bot.app.parts.errors.errors == 1


async def test_flood_from_one_prospect_does_not_slow_another(tg: TgEnv) -> None:
    bot = await tg.start()
    flooder, calm = tg.user("Flo"), tg.user("Cal")
    await begin(flooder)
    await begin(calm)
    tg.fake.slow(0.05, method="sendMessage", chat_id=flooder.id)
    for i in range(30):
        flooder.send(f"blah {i}")
    calm.send("We chose your product, the price is fine.")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await calm.next_message()).text.startswith("2/")
    assert loop.time() - started < 1.0
    await tg.fake.wait_idle(timeout=10)
    # Most of the flood was dropped rather than answered one by one.
    said = [m for m in flooder.messages if m.from_bot]
    assert len(said) < 15
    assert bot.app.parts.chat_lock.dropped > 10
