"""Bad input from prospects, each end to end through aiogram's real client and the fake
Bot API: answered politely (or ignored), nothing Telegram would refuse is sent (the
fake fails the test on any such 400), and the interview stays intact."""

from __future__ import annotations

import asyncio
from typing import Any

from storage.database import Database
from tests.answers import FOUNDER
from tests.fakebot import FakeUser, StoredMessage
from tests.telegram.conftest import TgEnv
from tests.telegram.test_prospect import answers_of, begin
from tests.telegram.test_sales import DEMO, is_card

NUDGE = "I can only read text"


def bot_said(user: FakeUser) -> list[StoredMessage]:
    return [m for m in user.messages if m.from_bot]


def starts(prefix: str) -> Any:
    return lambda m: (m.text or "").startswith(prefix)


async def question_ids(db: Database, user: FakeUser) -> list[str]:
    return [a.question_id for a in await answers_of(db, user.id)]


async def nudged_back_to_the_question(tg: TgEnv, alice: FakeUser) -> None:
    nudge = await alice.next_message()
    assert NUDGE in nudge.text
    assert (await alice.next_message()).text.startswith("1/")  # where we were
    await tg.settle()
    assert await question_ids(tg.database, alice) == []


async def test_a_poll_gets_a_nudge_and_changes_nothing(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    alice.send_poll("Which plan is best?", ("Basic", "Pro"))
    await nudged_back_to_the_question(tg, alice)


async def test_a_location_gets_a_nudge_and_changes_nothing(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    alice.send_location(51.5, -0.12)
    await nudged_back_to_the_question(tg, alice)


async def test_a_forwarded_message_is_read_like_typed_text(tg: TgEnv) -> None:
    """The prospect chose to send it (a colleague's note, a channel post): its text is
    read as their reply, and garbage is re-asked like anything typed."""
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    alice.forward(
        "Big news from our channel today!", origin_chat=tg.fake.factory.group(title="News")
    )
    reask = await alice.next_message()
    assert reask.text and not reask.text.startswith("2/")
    alice.forward(FOUNDER[0], hidden_name="My boss")
    assert (await alice.next_message(starts("2/"))).text.startswith("2/")
    await tg.settle()
    assert await question_ids(tg.database, alice) == ["budget"]


async def test_a_reply_to_an_old_question_answers_the_current_one_and_keeps_the_old(
    tg: TgEnv,
) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    q1 = alice.last_message
    assert q1 is not None
    alice.send(FOUNDER[0])
    await alice.next_message(starts("2/"))
    alice.reply(q1, FOUNDER[1])  # quoting question 1, answering question 2
    assert (await alice.next_message(starts("3/"))).text.startswith("3/")
    await tg.settle()
    answers = await answers_of(tg.database, alice.id)
    assert [a.question_id for a in answers] == ["budget", "role"]
    assert answers[0].raw == FOUNDER[0]  # the old answer stands


async def test_emoji_only_is_reasked_and_records_nothing(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    alice.send("🙂👍🔥")
    reask = await alice.next_message()
    assert reask.text and not reask.text.startswith("2/")
    await tg.settle()
    assert await question_ids(tg.database, alice) == []
    alice.send(FOUNDER[0])  # the interview goes on as before
    assert (await alice.next_message(starts("2/"))).text.startswith("2/")


async def test_right_to_left_text_is_answered_politely(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    alice.send("مرحبا، نحن شركة صغيرة")  # Arabic
    first = await alice.next_message()
    assert first.text
    # Dated 5 s later: the prospect read the re-ask (sooner would be a flood: ignored).
    later = int(tg.fake.wall_clock()) + 5
    alice.send("שלום, אנחנו חברה קטנה", date=later)  # Hebrew
    second = await alice.next_message()
    assert second.text
    await tg.settle()
    assert not tg.fake.problems
    assert await question_ids(tg.database, alice) in ([], ["budget"])


async def test_zero_width_characters_in_an_answer_still_match(tg: TgEnv) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    # A button label typed back with a zero-width space and a joiner inside words.
    alice.send("Yes, the pri\u200bce works\u200d for us")
    assert (await alice.next_message(starts("2/"))).text.startswith("2/")
    await tg.settle()
    answers = await answers_of(tg.database, alice.id)
    assert [a.question_id for a in answers] == ["budget"]
    assert answers[0].option_ids and not answers[0].unknown


async def test_a_4096_character_message_is_handled_and_no_reply_is_too_long(
    tg: TgEnv,
) -> None:
    await tg.start()
    alice = tg.user("Alice")
    await begin(alice)
    alice.send(("We chose your product, the price is fine. " * 100)[:4096])
    reply = await alice.next_message()
    assert reply.text and len(reply.text) <= 4096
    await tg.settle()
    assert not tg.fake.problems  # nothing "message is too long"
    assert await question_ids(tg.database, alice) in ([], ["budget"])


async def test_a_flood_of_30_messages_in_a_second_keeps_the_interview_and_others_fast(
    tg: TgEnv,
) -> None:
    bot = await tg.start()
    flooder, calm = tg.user("Flo"), tg.user("Cal")
    await begin(flooder)
    await begin(calm)
    flooder.send(FOUNDER[0])
    await flooder.next_message(starts("2/"))
    await tg.settle()

    def latency(user: FakeUser, since_update: int) -> float:
        """From the update's push to the bot's first sendMessage to `user`, on the
        fake's clock."""
        push = tg.fake.clock_of_update(since_update)
        sent = next(
            c.time for c in tg.fake.calls_to("sendMessage")
            if c.chat_id == user.id and c.time >= push
        )  # fmt: skip
        return sent - push

    # A baseline: the calm prospect's answer with nobody else busy.
    update = calm.send(FOUNDER[0])
    await calm.next_message(starts("2/"))
    baseline = latency(calm, update)
    await tg.settle()

    said_before = len(bot_said(flooder))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(30):
        flooder.send(f"blah blah {i}")
        await asyncio.sleep(0.01)  # 30 messages within one second
    update = calm.send(FOUNDER[1])
    assert loop.time() - started < 1.0
    await calm.next_message(starts("3/"))
    flooded = latency(calm, update)
    assert flooded < max(0.3, baseline * 5), (baseline, flooded)
    await tg.settle(timeout=10)
    replies = bot_said(flooder)[said_before:]
    # Each message got at most a short reply (most were ignored), none was long.
    assert len(replies) <= 30 and all(len(m.text or "") < 400 for m in replies)
    assert bot.app.parts.errors.errors == 0
    assert not tg.fake.problems


async def test_a_flood_of_garbage_skips_questions_bug(tg: TgEnv) -> None:
    # Bug: each garbage message of a burst counted as a miss and two misses skip a
    # question, so 30 in a second ran the interview to its end.
    await tg.start()
    flooder = tg.user("Flo")
    await begin(flooder)
    flooder.send(FOUNDER[0])
    await flooder.next_message(starts("2/"))
    for i in range(30):
        flooder.send(f"blah blah {i}")
        await asyncio.sleep(0.01)
    await tg.settle(timeout=10)
    # Interview intact: the flood did not answer (or skip) the role question.
    assert await question_ids(tg.database, flooder) == ["budget"]


async def test_markup_in_names_and_answers_is_shown_as_text_in_chat_and_on_the_card(
    tg: TgEnv,
) -> None:
    await tg.start()
    evil = "<b>Ann</b> & </a> {{ x }}"
    alice = tg.user(evil)
    alice.start()
    hello = await alice.next_message()
    assert evil in hello.text  # literally, not bold, not a template
    await alice.next_message(starts("1/"))
    answer = "We chose you <b>&</b> </a> {{ price }}: the price is fine"
    alice.send(answer)
    await alice.next_message()
    alice.send(DEMO + " <i>{{ 7*7 }}</i> &amp;")
    card = await tg.sales.next_message(is_card)
    assert evil in (card.text or "")  # the card's text as the group sees it
    assert "<b>Ann</b>" not in (card.html or card.raw or "")  # escaped in the HTML sent
    await tg.settle()
    card_now = tg.fake.get_message(tg.sales.id, card.message_id)
    assert card_now is not None
    assert "{{ price }}" in (card_now.text or "") or answer in (card_now.text or "")
    assert "49" not in (card_now.text or "").replace("{{ 7*7 }}", "")
    assert not tg.fake.problems
