"""Webhook mode: the fake Bot API delivers updates to the bot's aiohttp server the
way Telegram does (POST, the secret in X-Telegram-Bot-Api-Secret-Token, a
non-2xx answer means "deliver again")."""

from __future__ import annotations

import aiohttp
from sqlalchemy.exc import OperationalError

from tests.telegram.conftest import TgEnv
from tests.telegram.test_prospect import answers_of, begin
from tests.telegram.test_sales import is_card


async def test_webhook_interview_secret_and_card(tg: TgEnv) -> None:
    tg.fake.require_callback_answers = True
    bot = await tg.start(webhook=True)
    settings = bot.runner.settings
    assert settings.webhook_url is not None
    info = tg.fake.calls_to("setWebhook")[-1].params
    assert info["url"] == settings.webhook_url
    assert info["secret_token"] == "s3cret-webhook-token"

    alice = tg.user("Alice")
    await begin(alice)
    alice.click("Yes, the price works")
    assert (await alice.next_message()).text.startswith("2/")
    alice.send("Can you show me a demo?")
    card = await tg.sales.next_message(is_card)
    tg.sales.click(tg.seller, "Take", message=card.message_id)
    await tg.fake.wait_for_edit(tg.sales.id, card.message_id)

    # Anyone else posting to the webhook is refused before any handling.
    update = {"update_id": 999_999, "message": {"message_id": 1, "date": 0,
              "chat": {"id": 5, "type": "private"}, "text": "/start"}}  # fmt: skip
    async with aiohttp.ClientSession() as http:
        async with http.post(settings.webhook_url, json=update) as resp:
            assert resp.status == 401
        headers = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        async with http.post(settings.webhook_url, json=update, headers=headers) as resp:
            assert resp.status == 401
    assert 5 not in tg.fake.chats or not tg.fake.messages(5)


async def test_webhook_duplicates_applied_once(tg: TgEnv) -> None:
    await tg.start(webhook=True)
    alice = tg.user("Alice")
    await begin(alice)
    tg.fake.push_update(
        tg.fake.factory.text(alice.tg, "We chose you, the price is fine."), copies=3
    )
    assert (await alice.next_message()).text.startswith("2/")
    await tg.fake.wait_idle()
    assert [a.question_id for a in await answers_of(tg.database, alice.id)] == ["budget"]
    assert sum((m.text or "").startswith("2/") for m in alice.messages if m.from_bot) == 1


async def test_webhook_refuses_an_update_while_the_database_is_away(tg: TgEnv) -> None:
    """Acknowledged only once handled: a database outage longer than the in-process
    retries answers 500, Telegram delivers the update again, and it is applied once."""
    bot = await tg.start(webhook=True)
    alice = tg.user("Alice")
    await begin(alice)
    service = bot.app.interview
    original = service.text
    failures = 0

    async def database_away(*args: object, **kwargs: object) -> object:
        nonlocal failures
        if failures < 4:  # more than the middleware's 3 attempts: one 500, then fine
            failures += 1
            raise OperationalError("SELECT 1", {}, Exception("database is locked"))
        return await original(*args, **kwargs)

    service.text = database_away
    update_id = tg.fake.push_update(tg.fake.factory.text(alice.tg, "We chose you, price is fine."))
    assert (await alice.next_message()).text.startswith("2/")

    def deliveries() -> list[int | None]:
        return [d.status for d in tg.fake.bot().webhook_history if d.update_id == update_id]

    await tg.fake.wait_until(lambda: 200 in deliveries())
    assert deliveries() == [500, 200]
    assert [a.question_id for a in await answers_of(tg.database, alice.id)] == ["budget"]


async def test_webhook_stop_refuses_new_updates_and_exits_cleanly(tg: TgEnv) -> None:
    bot = await tg.start(webhook=True)
    alice = tg.user("Alice")
    await begin(alice)
    assert await bot.stop() == 0
    # Stopped: Telegram keeps the update (a later process gets it); nothing is lost.
    tg.fake.push_update(tg.fake.factory.text(alice.tg, "We chose you, price is fine."))
    again = await tg.start(webhook=True)
    assert (await alice.next_message()).text.startswith("2/")
    assert await again.stop() == 0
