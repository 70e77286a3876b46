"""The sales card template from the admin chat, end to end: a broken file refused
with line and reason, a good one previewed (Telegram accepts the sample card) and
activated with a button, the sales chat's cards made with it, /card to get the
live file, /card reset back to the built-in card; non-admins are not heard."""

from __future__ import annotations

from sqlmodel import select

from storage import repositories as repo
from storage.tables import CardTemplate
from tests.telegram.conftest import ADMIN_ID, TgEnv
from tests.telegram.test_admin_e2e import file_bytes
from tests.telegram.test_sales import hot_lead, is_card

TEMPLATE = (
    "🧲 <b>{{ d.name }}</b> · {{ d.total }}/{{ d.max_total }} · {{ d.tier }}\n"
    "{% for p in d.params %}<i>{{ p.name }}</i>: {{ p.points }}/{{ p.max }}\n{% endfor %}"
    "{% if d.taken_by %}👤 {{ d.taken_by }}{% endif %}\n"
)


async def test_upload_refused_preview_activate_cards_get_and_reset(tg: TgEnv) -> None:
    await tg.start()
    boss = tg.fake.user("Boss", id=ADMIN_ID)

    # Broken: refused with the line and the reason; nothing stored.
    boss.send_document(b"{{ d.name }}\n<div>{{ d.total }}</div>\n", "card.html.j2")
    refused = await boss.next_message(lambda m: "refused" in (m.text or ""))
    assert "card.html.j2 is refused, line 2: Telegram has no tag <div>" in refused.text
    assert "live card is unchanged" in refused.text
    boss.send_document(b"{{ d.name }}\n{{ d.nmae }}\n", "card.html.j2")
    refused = await boss.next_message(lambda m: "refused" in (m.text or ""))
    assert "line 2: d has no attribute 'nmae'" in refused.text

    # Good: a note, then the sample card as Telegram HTML with the Activate button.
    boss.send_document(TEMPLATE.encode(), "card.html.j2")
    note = await boss.next_message(lambda m: "stored as card v1" in (m.text or ""))
    assert "not live yet" in note.text
    preview = await boss.next_message(lambda m: m.parse_mode == "HTML")
    assert (preview.text or "").startswith("🧲 Anna Petrova · 85/100 · hot")
    assert preview.button_texts == ["Use card v1"]

    # Before activation the sales chat still gets the built-in card.
    alice = tg.user("Alice")
    await hot_lead(alice)
    builtin = await tg.sales.next_message(is_card)
    assert "Hot lead" in (builtin.text or "")

    boss.click("Use card v1", message=preview)
    await boss.next_message(lambda m: "Card v1 is live" in (m.text or ""))
    bob = tg.user("Bob")
    await hot_lead(bob)
    custom = await tg.sales.next_message(is_card)
    assert (custom.text or "").startswith("🧲 Bob") and custom.button_texts[:1] == ["Take"]
    # Edits of a card (Take) use it too.
    tg.sales.click(tg.seller, "Take", message=custom.message_id)
    edited = await tg.fake.wait_for_edit(tg.sales.id, custom.message_id)
    assert (edited.text or "").startswith("🧲 Bob") and "👤 Sam" in (edited.text or "")

    # /card: the live template as a file, to edit and send back.
    boss.command("card")
    doc = await boss.next_message(lambda m: m.kind == "document")
    assert file_bytes(tg, doc).decode() == TEMPLATE
    assert "v1" in (doc.text or "") and "Boss" in (doc.text or "")

    boss.command("card", "reset")
    await boss.next_message(lambda m: "built-in card is back" in (m.text or ""))
    carol = tg.user("Carol")
    await hot_lead(carol)
    again = await tg.sales.next_message(is_card)
    assert "Hot lead" in (again.text or "") and "Carol" in (again.text or "")
    boss.command("card", "vars")
    help_ = await boss.next_message()
    assert "d.name" in help_.text and "|safe" in help_.text
    boss.command("help")  # an admin's /help lists the admin commands, then the usual help
    admin_help = await boss.next_message(lambda m: "Admin commands" in (m.text or ""))
    assert "/card reset" in admin_help.text
    await boss.next_message(lambda m: "/privacy" in (m.text or ""))
    boss.command("card", "1")
    await boss.next_message(lambda m: "Card v1 is live" in (m.text or ""))

    async with tg.database.session() as s:
        audit = await repo.list_audit(s, subject="card")
    assert [(a.what, a.from_value, a.to_value) for a in reversed(audit)] == [
        ("card.import", None, "v1"),
        ("card.activate", "built-in", "v1"),
        ("card.reset", "v1", "built-in"),
        ("card.activate", "built-in", "v1"),
    ]
    assert {a.who for a in audit} == {"Boss"} and {a.who_id for a in audit} == {ADMIN_ID}


async def test_a_non_admin_template_is_not_taken(tg: TgEnv) -> None:
    await tg.start()
    mallory = tg.user("Mallory")
    mallory.send_document(TEMPLATE.encode(), "card.html.j2")
    mallory.command("card", "reset")
    await tg.settle()
    said = " ".join(m.text or "" for m in mallory.messages if m.from_bot)
    assert "card v" not in said.lower() and "built-in" not in said
    async with tg.database.session() as s:
        assert (await s.exec(select(CardTemplate))).all() == []
