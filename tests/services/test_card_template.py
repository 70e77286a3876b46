"""Custom sales card templates: checked before they are stored (line and reason),
versioned and audited, read from the database by every process, and never the
reason a card is lost (a run-time failure falls back to the built-in card)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from bot.services.admin import AdminError, AdminService
from bot.services.card_template import (
    CardTemplateError,
    CustomCard,
    builtin_source,
    check_template,
    compile_source,
    digest_of,
    html_problem,
    sample_cards,
)
from bot.services.cards import render_card_html
from bot.services.clock import ManualClock
from bot.services.handoff import HandoffService
from bot.services.interview import InterviewService
from storage import repositories as repo
from storage.database import Database
from tests.services.conftest import ADMIN, SALES, MakeServices, prospect
from tests.services.helpers import queued
from tests.services.test_interview import run_founder

GOOD = (
    "🧲 <b>{{ d.name }}</b> · {{ d.total }}/{{ d.max_total }} ({{ d.tier }})\n"
    "{% for p in d.params %}{{ p.name }}: {{ p.points }}/{{ p.max }}\n{% endfor %}"
    "{% if d.contacts %}{{ d.contacts|join(', ') }}{% endif %}\n"
)


def refused(source: str) -> CardTemplateError:
    with pytest.raises(CardTemplateError) as err:
        check_template(source, "card.html.j2")
    return err.value


def test_the_built_in_template_and_a_simple_one_pass() -> None:
    assert "Anna Petrova" in check_template(builtin_source()).sample_html
    checked = check_template(GOOD)
    assert checked.sample_html.startswith("🧲 <b>Anna Petrova</b> · 85/100 (hot)")
    assert checked.digest == digest_of(GOOD)
    assert "Анна" in check_template(GOOD, lang="ru").sample_html


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        ("ok\n{% if d.tier %}\nno end", 3, "Unexpected end of template"),
        ("ok\n\n{{ lead.name }}", 3, "unknown variable 'lead'"),
        ("{{ d.name }}\n{{ d.nmae }}", 2, "d has no attribute 'nmae'"),
        ("{{ d.name }}\n{{ L.card_nope }}", 2, "L has no attribute 'card_nope'"),
        ("<b>{{ d.name }}</b>\n<div>{{ d.total }}</div>", 2, "Telegram has no tag <div>"),
        ("{{ d.name }}\n<b>{{ d.total }}", 2, "<b> is never closed"),
        ("<b><i>{{ d.name }}</b></i>", 1, "</b> comes before </i> is closed"),
        ("{{ d.name }}\n<span>x</span>", 2, '<span> must be <span class="tg-spoiler">'),
        ("{{ d.name }}\n{{ d.name|safe }}", 2, "|safe would let a prospect's text"),
        ("{% autoescape false %}{{ d.name }}{% endautoescape %}", 1, "autoescape"),
        ("x\n{{ d.__class__ }}", 2, "unsafe"),
        ("{{ d.name }}\n{{ d.contacts[0] }}", 2, "no element 0"),  # the bare sample
        ("{{ d.name }} 1 < 2", 1, "starts no tag"),
    ],
)
def test_broken_templates_are_refused_with_line_and_reason(
    source: str, line: int, reason: str
) -> None:
    err = refused(source)
    assert err.line == line, str(err)
    assert reason in err.reason
    assert str(err).startswith(f"card.html.j2:{line}: ")


def test_too_long_or_empty_cards_are_refused() -> None:
    long = "{% for i in range(5000) %}{{ d.name }} {% endfor %}"
    assert "longer than Telegram's 4096" in refused(long).reason
    assert "empty" in refused("   \n").reason
    assert "empty" in refused("<b> </b>").reason


def test_html_problem_follows_telegram() -> None:
    assert html_problem('<a href="tg://user?id=1">x</a> <tg-spoiler>y</tg-spoiler>') is None
    assert html_problem('<span class="tg-spoiler">x</span><pre><code>y</code></pre>') is None
    assert html_problem("a &lt; b &amp; c") is None
    problem = html_problem("<p>x</p>")
    assert problem is not None and problem[1] == "<p>"
    assert html_problem("x</b>") is not None
    assert html_problem("<a>x</a>") is not None


def test_a_template_that_fails_at_run_time_falls_back_to_the_built_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Passes the samples (lead 42, 43), fails for lead 777: a card is never lost to it.
    source = "{{ d.name }}{% if d.lead_id == 777 %}{{ d.nope }}{% endif %}"
    check_template(source)
    custom = CustomCard(1, digest_of(source), compile_source(source))
    sample = sample_cards()[0]
    assert render_card_html(sample, custom=custom) == "Anna Petrova"
    with caplog.at_level(logging.WARNING, logger="bot.services.cards"):
        fallback = render_card_html(replace(sample, lead_id=777), custom=custom)
    assert fallback == render_card_html(replace(sample, lead_id=777))  # the built-in card
    assert "Hot lead" in fallback
    assert any("Card template v1 failed for lead 777" in r.message for r in caplog.records)
    # Markup a template produced from data is checked too (here: a stray "<").
    lt = "{{ d.name }}{% if d.lead_id == 777 %} < {% endif %}"
    check_template(lt)
    broken = CustomCard(2, digest_of(lt), compile_source(lt))
    assert "Hot lead" in render_card_html(replace(sample, lead_id=777), custom=broken)


@pytest.fixture
def admin(service: InterviewService, clock: ManualClock) -> AdminService:
    return AdminService(service.db, service.registry, config=service.config, clock=clock)


async def test_import_activate_reset_with_audit_and_cards_use_the_live_one(
    service: InterviewService, admin: AdminService, database: Database, clock: ManualClock
) -> None:
    with pytest.raises(CardTemplateError):
        await admin.import_card("<div>{{ d.name }}</div>", filename="card.html.j2", actor=ADMIN)
    with pytest.raises(AdminError):
        await admin.import_card(GOOD, filename="card.html.j2", actor=SALES)
    assert await admin.card_versions() == []

    first = await admin.import_card(GOOD, filename="card.html.j2", actor=ADMIN)
    assert (first.version.version, first.version.active, first.duplicate) == (1, False, False)
    assert first.sample_html.startswith("🧲 <b>Anna Petrova</b>")
    again = await admin.import_card(GOOD, filename="other.j2", actor=ADMIN)
    assert again.duplicate and again.version.version == 1

    # Not live yet: the card is the built-in one.
    await run_founder(service, prospect(1001, "Anna"))
    assert "Hot lead" in (await queued(database, "card"))[-1].payload["html"]

    live = await admin.activate_card(1, actor=ADMIN)
    assert live.active
    await run_founder(service, prospect(1002, "Boris"))
    card = (await queued(database, "card"))[-1].payload["html"]
    assert card.startswith("🧲 <b>Boris Smith</b>") and "Budget: " in card

    second = await admin.import_card(
        GOOD.replace("🧲", "★"), filename="v2.j2", actor=ADMIN, activate=True
    )
    assert second.activated and second.version.version == 2
    name, source, version = await admin.card_source()
    assert (name, version and version.version) == ("card-v2.html.j2", 2) and "★" in source
    assert (await admin.card_source(1))[1] == GOOD

    was = await admin.reset_card(actor=ADMIN)
    assert was is not None and was.version == 2
    assert await admin.reset_card(actor=ADMIN) is None
    name, source, version = await admin.card_source()
    assert (name, version, source) == ("card.html.j2", None, builtin_source())
    with pytest.raises(AdminError, match="no card template v9"):
        await admin.activate_card(9, actor=ADMIN)

    async with database.session() as s:
        rows = await repo.list_audit(s, subject="card")
    trail = [(r.what, r.who, r.from_value, r.to_value) for r in reversed(rows)]
    assert trail == [
        ("card.import", "Admin", None, "v1"),
        ("card.activate", "Admin", "built-in", "v1"),
        ("card.import", "Admin", None, "v2"),
        ("card.activate", "Admin", "v1", "v2"),
        ("card.reset", "Admin", "v2", "built-in"),
    ]
    assert all(r.who_id == ADMIN.user_id and r.at == clock() for r in rows)


async def test_every_process_sees_the_live_template(
    database: Database, make_services: MakeServices, admin: AdminService
) -> None:
    # Two "processes": separate services and database engines on one database.
    other_db = Database(database.url)
    try:
        _, other_handoff = make_services(other_db)
        service, _ = make_services(database)
        await run_founder(service, prospect(1001, "Anna"))
        hid = int((await queued(database, "card"))[-1].payload["handoff_id"])
        view = await other_handoff.card(hid)
        assert view is not None and "Hot lead" in view.html
        await admin.import_card(GOOD, filename="card.html.j2", actor=ADMIN, activate=True)
        view = await other_handoff.card(hid)
        assert view is not None and view.html.startswith("🧲 <b>Anna Smith</b>")
        await admin.reset_card(actor=ADMIN)
        view = await other_handoff.card(hid)
        assert view is not None and "Hot lead" in view.html
    finally:
        await other_db.dispose()


async def test_a_bad_stored_template_still_gives_a_card(
    service: InterviewService, handoff: HandoffService, database: Database
) -> None:
    # Whatever is in the table (written around the checks), cards still go out.
    async with database.transaction() as s:
        await repo.add_card_template(s, source="{{ d.nope }}", digest="x" * 64)
        await repo.activate_card_template(s, 1)
    await run_founder(service, prospect(1001, "Anna"))
    assert "Hot lead" in (await queued(database, "card"))[-1].payload["html"]
