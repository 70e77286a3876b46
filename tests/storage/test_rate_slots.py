"""Shared send budgets (storage/rate_slots.py): one claim per slot, across processes."""

from __future__ import annotations

import asyncio

import pytest

from storage import rate_slots
from storage.database import Database

T0 = 1_900_000_000.0  # seconds since the epoch, a fake "now"


async def test_a_group_gets_one_send_every_interval(database: Database) -> None:
    assert await rate_slots.take(database, "group:-1", 3.0, now=T0) == 0.0
    assert await rate_slots.take(database, "group:-1", 3.0, now=T0) == pytest.approx(3.0)
    assert await rate_slots.take(database, "group:-1", 3.0, now=T0 + 1.0) == pytest.approx(2.0)
    # Due (the tolerance lets a sleeper that woke a hair early through).
    assert await rate_slots.take(database, "group:-1", 3.0, now=T0 + 3.0 - 1e-6) == 0.0
    assert await rate_slots.take(database, "group:-1", 3.0, now=T0 + 4.0) == pytest.approx(2.0)
    # Another key has its own budget.
    assert await rate_slots.take(database, "group:-2", 3.0, now=T0 + 4.0) == 0.0


async def test_a_quiet_spell_is_not_saved_up_without_burst(database: Database) -> None:
    assert await rate_slots.take(database, "k", 3.0, now=T0) == 0.0
    assert await rate_slots.take(database, "k", 3.0, now=T0 + 100) == 0.0
    assert await rate_slots.take(database, "k", 3.0, now=T0 + 100) == pytest.approx(3.0)


async def test_burst_lets_a_few_go_back_to_back(database: Database) -> None:
    waits = [await rate_slots.take(database, "k", 0.5, burst=2, now=T0) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.5)


async def test_hold_pushes_the_next_send_back_and_never_forward(database: Database) -> None:
    await rate_slots.hold(database, "k", 10.0, now=T0)  # no row yet: made held
    assert await rate_slots.take(database, "k", 3.0, now=T0 + 1) == pytest.approx(9.0)
    await rate_slots.hold(database, "k", 1.0, now=T0 + 1)  # shorter than the hold: no change
    assert await rate_slots.take(database, "k", 3.0, now=T0 + 1) == pytest.approx(9.0)
    assert await rate_slots.take(database, "k", 3.0, now=T0 + 10) == 0.0


async def test_the_databases_clock_by_default(database: Database) -> None:
    shared = rate_slots.SharedRate(database)
    assert await shared.take("k", 5.0) == 0.0
    wait = await shared.take("k", 5.0)
    assert 4.0 < wait <= 5.0
    await shared.hold("k", 60.0)
    assert 55.0 < await shared.take("k", 5.0) <= 60.0


async def test_processes_claiming_at_once_get_one_slot_between_them(database: Database) -> None:
    # Four "processes" (their own engines and connections) claim the same slot at once.
    others = [Database(database.url) for _ in range(3)]
    try:
        dbs = [database, *others]
        for round_ in range(5):
            now = T0 + 10.0 * round_
            waits = await asyncio.gather(
                *(rate_slots.take(db, "group:-1", 3.0, now=now) for db in dbs for _ in range(2))
            )
            assert sorted(waits)[0] == 0.0
            assert [w for w in waits if w == 0.0] == [0.0], waits
            assert all(w == pytest.approx(3.0) for w in waits if w)
    finally:
        for db in others:
            await db.dispose()
