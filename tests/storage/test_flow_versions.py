"""Flow versions: numbering per flow, atomic activation, rollback."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from storage import repositories as repo
from storage.database import Database

YAML = "id: bant\nquestions: []\n"


async def test_versions_are_numbered_per_flow(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        b1 = await repo.add_flow_version(
            s, "bant", source=YAML, digest="a", created_by="cli", now=now
        )
        b2 = await repo.add_flow_version(s, "bant", source=YAML + "#2", digest="b")
        c1 = await repo.add_flow_version(s, "champ", source="id: champ", digest="c")
    assert (b1.version, b2.version, c1.version) == (1, 2, 1)
    assert (b1.source, b1.digest, b1.created_by, b1.created_at, b1.active) == (
        YAML,
        "a",
        "cli",
        now,
        False,
    )
    async with database.session() as s:
        assert [(v.flow_id, v.version) for v in await repo.list_flow_versions(s)] == [
            ("bant", 1),
            ("bant", 2),
            ("champ", 1),
        ]
        assert [v.version for v in await repo.list_flow_versions(s, "bant")] == [1, 2]
        assert await repo.list_flow_ids(s) == ["bant", "champ"]
        by_number = await repo.get_flow_version_by_number(s, "bant", 2)
        assert by_number is not None and by_number.id == b2.id
        assert b1.id is not None
        by_id = await repo.get_flow_version(s, b1.id)
        assert by_id is not None and by_id.version == 1
        same = await repo.find_flow_version_by_digest(s, "bant", "b")
        assert same is not None and same.id == b2.id
        assert await repo.find_flow_version_by_digest(s, "champ", "a") is None
        assert await repo.get_active_flow_version(s, "bant") is None


async def test_concurrent_imports_get_distinct_numbers(database: Database) -> None:
    async def add(i: int) -> int:
        async with database.transaction() as s:
            version = await repo.add_flow_version(s, "bant", source=f"# {i}", digest=str(i))
            return version.version

    numbers = await asyncio.gather(*(add(i) for i in range(10)))
    assert sorted(numbers) == list(range(1, 11))


async def test_activation_is_exclusive_per_flow(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        v1 = await repo.add_flow_version(s, "bant", source=YAML, digest="a", activate=True, now=now)
        v2 = await repo.add_flow_version(s, "bant", source=YAML, digest="b")
        c1 = await repo.add_flow_version(s, "champ", source=YAML, digest="c", activate=True)
    assert v1.active and v1.activated_at == now and v2.id is not None
    later = now + timedelta(hours=2)
    async with database.transaction() as s:
        live = await repo.activate_flow_version(s, v2.id, now=later)
    assert live.active and live.activated_at == later
    async with database.session() as s:
        active = await repo.get_active_flow_version(s, "bant")
        flags = {(v.flow_id, v.version): v.active for v in await repo.list_flow_versions(s)}
    assert active is not None and active.id == v2.id
    assert flags == {("bant", 1): False, ("bant", 2): True, ("champ", 1): True}
    assert c1.active


async def test_concurrent_activations_leave_one_live_version(database: Database) -> None:
    async with database.transaction() as s:
        ids = [
            (await repo.add_flow_version(s, "bant", source=YAML, digest=str(i))).id
            for i in range(6)
        ]

    async def activate(version_id: int | None) -> None:
        assert version_id is not None
        async with database.transaction() as s:
            await repo.activate_flow_version(s, version_id)

    await asyncio.gather(*(activate(i) for i in ids))
    async with database.session() as s:
        versions = await repo.list_flow_versions(s, "bant")
    assert sum(v.active for v in versions) == 1


async def test_rollback_activates_the_previous_number(database: Database) -> None:
    async with database.transaction() as s:
        for i in range(3):
            await repo.add_flow_version(s, "bant", source=YAML, digest=str(i), activate=True)
        assert await repo.rollback_flow_version(s, "anum") is None
    async with database.transaction() as s:
        back = await repo.rollback_flow_version(s, "bant")
        assert back is not None and back.version == 2
        back = await repo.rollback_flow_version(s, "bant")
        assert back is not None and back.version == 1
        assert await repo.rollback_flow_version(s, "bant") is None
        active = await repo.get_active_flow_version(s, "bant")
        assert active is not None and active.version == 1
        assert await repo.deactivate_flow(s, "bant") == 1
        assert await repo.get_active_flow_version(s, "bant") is None
