"""The admin chat end to end: flow upload (refused / preview / activate), versions
for new vs running interviews, rollback, stats and CSV, and non-admins refused."""

from __future__ import annotations

import csv
import io

from flows.loader import builtin_flow_paths
from tests.answers import FOUNDER
from tests.telegram.conftest import ADMIN_ID, TgEnv
from tests.telegram.test_prospect import begin

BANT = builtin_flow_paths()["bant"].read_text(encoding="utf-8")
NEW_WELCOME = "Welcome to version two"
BANT_V2 = BANT.replace("A few short questions, so we can suggest the right setup.", NEW_WELCOME, 1)


def file_bytes(tg: TgEnv, message) -> bytes:
    media = message.media
    file_id = media["file_id"] if isinstance(media, dict) else media.file_id
    return tg.fake.files[file_id].data


async def test_upload_activate_versions_rollback_stats_and_export(tg: TgEnv) -> None:
    assert NEW_WELCOME in BANT_V2
    await tg.start()
    boss = tg.fake.user("Boss", id=ADMIN_ID)

    # A broken file: refused with the line and the reason; the live flow unchanged.
    broken = BANT.replace("thresholds:", "thresholds: [oops", 1)
    boss.send_document(broken.encode(), "bant.yaml")
    refused = await boss.next_message(lambda m: "refused" in (m.text or ""))
    assert "line" in refused.text and "live flow is unchanged" in refused.text

    # Someone who starts on the built-in version before the swap.
    early = tg.user("Early")
    await begin(early)

    boss.send_document(BANT_V2.encode(), "bant.yaml")
    graph = await boss.next_message(lambda m: m.kind == "document")
    assert b"stateDiagram" in file_bytes(tg, graph) or b"flowchart" in file_bytes(tg, graph)
    preview = await boss.next_message(lambda m: "stored as v" in (m.text or ""))
    assert "Thresholds" in preview.text and "Examples" in preview.text
    assert "Against the live version" in preview.text
    boss.click(preview.button_texts[0], message=preview)
    await boss.next_message(lambda m: "is live" in (m.text or ""))

    late = tg.user("Late")
    late.start()
    hello = await late.next_message()
    assert NEW_WELCOME in hello.text
    # The early prospect finishes on the version they started with.
    for text in FOUNDER:
        early.send(text)
        await early.next_message()
    await tg.fake.wait_idle()

    # /flows with Rollback: back to the built-in file.
    boss.command("flows")
    bant_line = await boss.next_message(lambda m: (m.text or "").startswith("bant:"))
    assert "live v" in bant_line.text
    boss.click("Roll back bant", message=bant_line)
    await boss.next_message(lambda m: "rolled back" in (m.text or ""))
    third = tg.user("Third")
    third.start()
    assert NEW_WELCOME not in (await third.next_message()).text

    # Stats: a message and a picture; CSV: one row per lead that ran.
    boss.command("stats", "bant")
    text = await boss.next_message(lambda m: m.kind == "text" and "bant" in (m.text or ""))
    assert "bant" in text.text
    await boss.next_message(lambda m: m.kind == "photo")
    boss.command("export")
    doc = await boss.next_message(lambda m: m.kind == "document")
    rows = list(csv.DictReader(io.StringIO(file_bytes(tg, doc).decode("utf-8-sig"))))
    assert len(rows) == 3  # Early, Late, Third
    assert "3 interviews" in (doc.text or "")


async def test_non_admin_upload_and_commands_are_refused(tg: TgEnv) -> None:
    await tg.start()
    mallory = tg.user("Mallory")
    await begin(mallory)
    mallory.send_document(BANT_V2.encode(), "bant.yaml")
    nudge = await mallory.next_message()
    assert "only read text" in nudge.text
    for command in ("flows", "threshold", "export", "stats"):
        mallory.command(command, "hot 10" if command == "threshold" else None)
    await tg.fake.wait_idle()
    said = " ".join(m.text or "" for m in mallory.messages if m.from_bot)
    assert "stored as" not in said and "live" not in said and "interviews" not in said
    assert not any(m.kind in ("photo", "document") for m in mallory.messages if m.from_bot)
    async with tg.database.session() as s:
        from storage import repositories as repo

        assert await repo.list_flow_versions(s, "bant") == [] or all(
            v.created_by == "builtin" for v in await repo.list_flow_versions(s, "bant")
        )


async def test_threshold_default_and_link_commands(tg: TgEnv) -> None:
    await tg.start()
    boss = tg.fake.user("Boss", id=ADMIN_ID)
    boss.command("threshold", "hot 85")
    changed = await boss.next_message()
    assert "80% → 85%" in changed.text
    boss.command("default", "champ")
    assert "champ" in (await boss.next_message()).text
    boss.command("link", "promo anum fb")
    assert "anum" in (await boss.next_message()).text
    boss.command("threshold", "hot lots")
    assert "Usage" in (await boss.next_message()).text


HOSTILE = {
    "an alias bomb": (
        b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
        + b"".join(
            f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n".encode()
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
    ),
    "deep nesting": b"id: x\nq: " + b"[" * 500 + b"]" * 500 + b"\n",
    "binary data": bytes(range(256)) * 8,
    "a template reaching for internals": BANT.replace(
        "A few short questions, so we can suggest the right setup.",
        "{{ lead.__class__.__mro__ }}",
        1,
    ).encode(),
}


async def test_hostile_flow_files_are_refused_and_the_live_flow_stays(tg: TgEnv) -> None:
    await tg.start()
    boss = tg.fake.user("Boss", id=ADMIN_ID)
    for name, data in HOSTILE.items():
        boss.send_document(data, "flow.yaml")
        refused = await boss.next_message(timeout=10)
        assert "flow.yaml is refused" in refused.text, (name, refused.text)
        assert "live flow is unchanged" in refused.text, (name, refused.text)
    big = b"# padding\n" * 120_000  # over 1 MB: not even downloaded
    boss.send_document(big, "flow.yaml")
    too_big = await boss.next_message(timeout=10)
    assert "too big" in too_big.text
    # The live flow is the built-in one: a prospect still gets its welcome.
    alice = tg.user("Alice")
    alice.start()
    hello = await alice.next_message()
    assert "A few short questions" in hello.text
