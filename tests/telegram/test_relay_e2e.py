"""After Take: the salesperson and the prospect talk through the bot, then the card
hands the prospect back to the bot. Plus the follow-up timers across a restart."""

from __future__ import annotations

from datetime import timedelta

from storage.database import Database
from tests.telegram.conftest import ADMIN_ID, TgEnv
from tests.telegram.test_prospect import begin
from tests.telegram.test_sales import hot_lead, is_card


async def test_relay_both_ways_after_take_and_back_to_the_bot(tg: TgEnv) -> None:
    await tg.start()
    alice, bob = tg.user("Alice"), tg.user("Bob")
    await hot_lead(alice)
    card = await tg.sales.next_message(is_card)
    await hot_lead(bob)
    await tg.sales.next_message(lambda m: is_card(m) and "Bob" in (m.text or ""))

    # Before Take, a reply to the card is not relayed.
    tg.sales.send(tg.seller, "Hi there", reply_to=card)
    hint = await tg.sales.next_message(lambda m: "Take the lead first" in (m.text or ""))
    assert hint.reply_to_message_id is not None

    tg.sales.click(tg.seller, "Take", message=card.message_id)
    await alice.next_message(lambda m: "Sam" in (m.text or "") and "will write" in m.text)
    tg.sales.send(tg.seller, "Hello Alice, when can we call?", reply_to=card)
    relayed = await alice.next_message(lambda m: "when can we call" in (m.text or ""))
    assert relayed.text.endswith("— Sam")
    assert not any("when can we call" in (m.text or "") for m in bob.messages)

    alice.send("Tomorrow at 10 works")
    back = await tg.sales.next_message(lambda m: "Tomorrow at 10" in (m.text or ""))
    assert back.reply_to_message_id == card.message_id and "Alice" in back.text

    tg.sales.click(tg.seller, "Back to the bot", message=card.message_id)
    await alice.next_message(lambda m: "Thank you for talking with Sam" in (m.text or ""))
    alice.send("We chose your product, the price is fine.")
    answer = await alice.next_message(lambda m: (m.text or "")[:1].isdigit() or "?" in m.text)
    assert answer.text
    await tg.fake.wait_idle()
    relayed_back = [m for m in tg.sales.messages() if (m.text or "").startswith("💬")]
    assert [m.text for m in relayed_back] == ["💬 Alice: Tomorrow at 10 works"]


async def test_reminder_and_sla_fire_once_each_across_a_restart(tg: TgEnv) -> None:
    first = await tg.start()
    boss = tg.fake.user("Boss", id=ADMIN_ID)
    boss.command("admin")  # the admin's private chat with the bot exists
    await boss.next_message()
    alice, bob = tg.user("Alice"), tg.user("Bob")
    await begin(alice)
    await hot_lead(bob)
    card = await tg.sales.next_message(is_card)
    tg.time.advance(timedelta(minutes=16).total_seconds())
    raised = await tg.sales.next_message(lambda m: "Nobody has taken" in (m.text or ""))
    assert raised.message_id != card.message_id and "Bob" in (raised.text or "")
    assert await first.stop() == 0

    fresh = Database(tg.database.url)
    try:
        await tg.start(database=fresh)
        tg.time.advance(timedelta(hours=25).total_seconds())
        reminder = await alice.next_message(lambda m: "Shall we continue" in (m.text or ""))
        assert reminder.button_texts == ["Continue"]
        await tg.fake.wait_idle(quiet=0.3)
        tg.time.advance(timedelta(days=3).total_seconds())
        await tg.fake.wait_idle(quiet=0.3)
        raises = [m for m in tg.sales.messages() if "Nobody has taken" in (m.text or "")]
        reminders = [m for m in alice.messages if "Shall we continue" in (m.text or "")]
        assert len(raises) == 1 and len(reminders) == 1
        reports = [m for m in boss.messages if "still not taken" in (m.text or "")]
        assert len(reports) == 1 and "Bob" in reports[0].text
        alice.click("Continue")
        question = await alice.next_message(lambda m: (m.text or "").startswith("1/"))
        assert question.has_inline_keyboard
        for bot in tg.running:
            if not bot.task.done():
                assert await bot.stop() == 0
    finally:
        await fresh.dispose()
