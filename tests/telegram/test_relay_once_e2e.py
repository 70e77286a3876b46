"""The relay relays each update once (both directions, also when Telegram delivers
it twice or again after a restart), and a reply to any bot message of the lead's
thread in the sales chat works: the original card after the SLA timer raised it
again, or a relayed message of the prospect."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from storage.database import Database
from storage.tables import HandoffMessage
from tests.fakebot import FakeUser, StoredMessage
from tests.telegram.conftest import TgEnv
from tests.telegram.test_sales import hot_lead, is_card


def relayed_to(user: FakeUser, text: str) -> list[StoredMessage]:
    return [m for m in user.messages if m.from_bot and text in (m.text or "")]


def relayed_from(tg: TgEnv, text: str) -> list[StoredMessage]:
    return [m for m in tg.sales.messages() if m.from_bot and text in (m.text or "")]


def sales_reply(tg: TgEnv, text: str, to: StoredMessage) -> dict:
    reply = tg.fake.message_json(to, nested=False)
    return tg.fake.factory.group_text(tg.seller.tg, tg.sales.to_dict(), text, reply_to=reply)


async def taken_lead(tg: TgEnv, alice: FakeUser) -> StoredMessage:
    await hot_lead(alice)
    card = await tg.sales.next_message(is_card)
    tg.sales.click(tg.seller, "Take", message=card.message_id)
    await alice.next_message(lambda m: "will write" in (m.text or ""))
    return card


async def test_an_update_delivered_twice_is_relayed_once_both_ways(tg: TgEnv) -> None:
    first = await tg.start()
    alice = tg.user("Alice")
    card = await taken_lead(tg, alice)

    # Sales → prospect, the same update twice in a row.
    to_alice = tg.fake.push_update(sales_reply(tg, "When can we call?", card), copies=2)
    await alice.next_message(lambda m: "When can we call?" in (m.text or ""))
    # Prospect → sales, the same update twice in a row.
    to_sales = tg.fake.push_update(tg.fake.factory.text(alice.tg, "Tomorrow at 10"), copies=2)
    await tg.sales.next_message(lambda m: "Tomorrow at 10" in (m.text or ""))
    await tg.settle()
    assert len(relayed_to(alice, "When can we call?")) == 1
    assert len(relayed_from(tg, "Tomorrow at 10")) == 1

    # A new process (nothing remembered in memory) gets both updates again.
    assert await first.stop() == 0
    fresh = Database(tg.database.url)
    try:
        second = await tg.start(database=fresh)
        tg.fake.redeliver(to_alice)
        tg.fake.redeliver(to_sales)
        await tg.fake.wait_confirmed(to_sales)
        await tg.settle()
        assert len(relayed_to(alice, "When can we call?")) == 1
        assert len(relayed_from(tg, "Tomorrow at 10")) == 1
        # The relay goes on for new updates.
        alice.send("Or at 11")
        await tg.sales.next_message(lambda m: "Or at 11" in (m.text or ""))
        assert await second.stop() == 0
    finally:
        await fresh.dispose()

    async with tg.database.session() as s:
        rows = (await s.exec(select(HandoffMessage).order_by(col(HandoffMessage.id)))).all()
    assert [r.kind for r in rows] == ["card", "from_sales", "from_prospect", "from_prospect"]
    assert rows[1].update_id == to_alice and rows[2].update_id == to_sales
    assert all(r.message_id is not None for r in rows)


async def test_a_reply_to_the_original_card_after_the_sla_raise_and_to_a_relayed_message(
    tg: TgEnv,
) -> None:
    await tg.start()
    alice, bob = tg.user("Alice"), tg.user("Bob")
    await hot_lead(alice)
    original = await tg.sales.next_message(is_card)
    await hot_lead(bob)
    await tg.sales.next_message(lambda m: is_card(m) and "Bob" in (m.text or ""))
    tg.time.advance(timedelta(minutes=16).total_seconds())
    raised = await tg.sales.next_message(
        lambda m: "Nobody has taken" in (m.text or "") and "Alice" in (m.text or "")
    )
    assert raised.message_id != original.message_id
    await tg.settle()

    tg.sales.click(tg.seller, "Take", message=raised.message_id)
    await alice.next_message(lambda m: "will write" in (m.text or ""))

    # The reply goes to the card posted first, not the raised one.
    tg.sales.send(tg.seller, "Hi Alice, Sam here", reply_to=original)
    got = await alice.next_message(lambda m: "Sam here" in (m.text or ""))
    assert got.text.endswith("— Sam")
    assert not relayed_to(bob, "Sam here")

    # The prospect's answer lands under the current card; a reply to it works too.
    alice.send("Great, call me at 10")
    answer = await tg.sales.next_message(lambda m: "call me at 10" in (m.text or ""))
    assert answer.reply_to_message_id == raised.message_id
    await tg.settle()
    tg.sales.send(tg.seller, "Deal, talk at 10", reply_to=answer)
    await alice.next_message(lambda m: "talk at 10" in (m.text or ""))

    # A reply to a colleague's message is not a reply to the lead.
    colleague = tg.sales.send(tg.seller, "note to self")
    await tg.fake.wait_confirmed(colleague)
    said = tg.fake.messages(tg.sales.id, include_user=True)
    mine = [m for m in said if m.text == "note to self"][-1]
    tg.sales.send(tg.seller, "internal: not for the client", reply_to=mine)
    await tg.settle()
    assert relayed_to(alice, "not for the client") == []


async def test_sla_edit_of_a_deleted_old_card_sends_no_extra_card(tg: TgEnv) -> None:
    # Bug: the SLA's "old card loses its buttons" edit looked up the lead's CURRENT card
    # at send time and, finding the message gone, posted a button-less card anew (and
    # could strip the raised card's buttons). It is now pinned to the old message.
    await tg.start()
    alice = tg.user("Alice")
    await hot_lead(alice)
    original = await tg.sales.next_message(is_card)
    original.deleted = True  # someone deleted the card in the sales chat
    tg.fake.expect_problem("message to edit not found")
    tg.time.advance(timedelta(minutes=16).total_seconds())
    raised = await tg.sales.next_message(lambda m: "Nobody has taken" in (m.text or ""))
    await tg.settle()
    after = [m for m in tg.sales.messages() if m.from_bot and m.message_id > original.message_id]
    assert [m.message_id for m in after] == [raised.message_id]
    assert raised.has_inline_keyboard
