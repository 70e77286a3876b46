"""The sales chat's queue (issue 7): cards claimed before anything else, and the
edits of one card coalesced into the newest."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage import outbox
from storage.database import Database
from storage.tables import Outbox

SALES = -1001234567890


async def _queue(db: Database, now: datetime, *rows: tuple[str, str | None, int]) -> list[int]:
    """(kind, dedup key, handoff id) rows, in this order; their ids."""
    ids = []
    async with db.transaction() as s:
        for kind, key, handoff in rows:
            new_id = await outbox.enqueue(
                s, kind, SALES, {"handoff_id": handoff, "html": key or kind}, key, now=now
            )
            assert new_id is not None
            ids.append(new_id)
    return ids


async def _status(db: Database, ids: list[int]) -> list[str]:
    async with db.session() as s:
        rows = [await outbox.get_outbox(s, i) for i in ids]
    return [r.status if r is not None else "?" for r in rows]


async def test_cards_are_claimed_before_older_edits_and_messages(
    database: Database, now: datetime
) -> None:
    ids = await _queue(
        database,
        now,
        ("card_edit", "card_edit:1:1", 1),
        ("message", None, 0),
        ("card_edit", "card_edit:1:2", 1),
        ("card", "card:2", 2),
        ("card", "card:3", 3),
    )
    first = await outbox.claim_batch(database, now, limit=3, worker_id="w")
    assert [r.id for r in first] == [ids[3], ids[4], ids[0]]
    rest = await outbox.claim_batch(database, now, limit=10, worker_id="w")
    assert [r.id for r in rest] == [ids[1], ids[2]]


async def test_a_card_not_due_yet_does_not_jump_the_queue(
    database: Database, now: datetime
) -> None:
    [edit] = await _queue(database, now, ("card_edit", "card_edit:1:1", 1))
    async with database.transaction() as s:
        await outbox.enqueue(
            s, "card", SALES, {}, "card:9", not_before=now + timedelta(seconds=30), now=now
        )
        assert not await outbox.card_due(s, now)
        assert await outbox.card_due(s, now + timedelta(seconds=30))
    assert [r.id for r in await outbox.claim_batch(database, now)] == [edit]


def test_edit_groups() -> None:
    assert outbox.edit_group("card_edit:12:3") == "card_edit:12:"
    assert outbox.edit_group("card_edit:12") is None
    assert outbox.edit_group("sla_edit:4") is None
    assert outbox.edit_group("card_forgotten:4") is None
    assert outbox.edit_group(None) is None


async def test_edits_of_one_card_coalesce_into_the_newest(
    database: Database, now: datetime
) -> None:
    ids = await _queue(
        database,
        now,
        ("card_edit", "card_edit:1:1", 1),
        ("card_edit", "sla_edit:1", 1),  # not a step's whole card: kept
        ("card_edit", "card_edit:1:2", 1),
        ("card_edit", "card_edit:10:1", 5),  # another card (card_edit:10: is not card_edit:1:)
        ("card_edit", "card_edit:1:3", 1),
    )
    rows: dict[int, Outbox] = {}
    async with database.session() as s:
        for i in ids:
            row = await outbox.get_outbox(s, i)
            assert row is not None
            rows[i] = row
    async with database.transaction() as s:
        # An older edit, with a newer one still to send: skip it.
        assert await outbox.coalesce_edit(s, rows[ids[2]]) == ids[4]
        # The newest: the older step edits of its card are cancelled.
        assert await outbox.coalesce_edit(s, rows[ids[4]]) is None
        # Not a step edit: nothing to coalesce.
        assert await outbox.coalesce_edit(s, rows[ids[1]]) is None
    assert await _status(database, ids) == [
        "cancelled",
        "pending",
        "cancelled",
        "pending",
        "pending",
    ]
    async with database.session() as s:
        row = await outbox.get_outbox(s, ids[0])
    assert row is not None and row.error == f"superseded by outbox {ids[4]}"
