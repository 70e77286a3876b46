"""Settings, deep links, audit log and processed update ids."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from storage import repositories as repo
from storage.database import Database


async def test_settings_upsert_and_delete(database: Database) -> None:
    async with database.transaction() as s:
        assert await repo.get_setting(s, "default_flow") is None
        assert await repo.get_setting(s, "default_flow", "bant") == "bant"
        await repo.set_setting(s, "default_flow", "champ")
        await repo.set_setting(s, "default_flow", "anum")
        await repo.set_setting(s, "a", "1")
    async with database.transaction() as s:
        assert await repo.get_setting(s, "default_flow") == "anum"
        assert await repo.list_settings(s) == {"a": "1", "default_flow": "anum"}
        assert await repo.delete_setting(s, "a")
        assert not await repo.delete_setting(s, "a")


async def test_deep_links(database: Database) -> None:
    async with database.transaction() as s:
        link = await repo.set_deep_link(s, "spring-promo_2030", "bant", source="instagram")
        assert (link.flow_id, link.source) == ("bant", "instagram")
        moved = await repo.set_deep_link(s, "spring-promo_2030", "champ")
        assert (moved.flow_id, moved.source) == ("champ", None)
        await repo.set_deep_link(s, "a" * 64, "anum")
        for bad in ["", "a" * 65, "has space", "кириллица", "a+b"]:
            with pytest.raises(ValueError):
                await repo.set_deep_link(s, bad, "bant")
    async with database.transaction() as s:
        got = await repo.get_deep_link(s, "spring-promo_2030")
        assert got is not None and got.flow_id == "champ"
        assert [d.payload for d in await repo.list_deep_links(s)] == ["a" * 64, "spring-promo_2030"]
        assert await repo.delete_deep_link(s, "a" * 64)
        assert await repo.get_deep_link(s, "a" * 64) is None


async def test_audit_is_listed_newest_first(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        await repo.add_audit(
            s, "cli", "flow.activate", subject="bant", from_value="1", to_value="2", now=now
        )
        await repo.add_audit(
            s,
            "Max",
            "lead.forget",
            who_id=5_000_000_000,
            subject="lead:3",
            now=now + timedelta(seconds=1),
        )
        await repo.add_audit(
            s, "cli", "flow.activate", subject="champ", now=now + timedelta(seconds=2)
        )
    async with database.session() as s:
        everything = await repo.list_audit(s)
        flows = await repo.list_audit(s, what="flow.activate")
        one = await repo.list_audit(s, subject="bant")
        limited = await repo.list_audit(s, limit=1)
    assert [a.subject for a in everything] == ["champ", "lead:3", "bant"]
    assert [a.subject for a in flows] == ["champ", "bant"]
    assert [(a.who, a.from_value, a.to_value, a.at) for a in one] == [("cli", "1", "2", now)]
    assert everything[1].who_id == 5_000_000_000
    assert [a.subject for a in limited] == ["champ"]


async def test_update_ids_are_processed_once(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        assert await repo.mark_update_processed(s, 2**40, now=now) is True
        assert await repo.mark_update_processed(s, 2**40, now=now) is False
        assert await repo.mark_update_processed(s, 2**40 + 1, now=now) is True


async def test_a_rolled_back_update_can_be_processed_again(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as s:
            assert await repo.mark_update_processed(s, 1)
            raise RuntimeError("handler failed")
    async with database.transaction() as s:
        assert await repo.mark_update_processed(s, 1) is True


async def test_concurrent_duplicate_deliveries_pass_once(database: Database) -> None:
    async def deliver() -> bool:
        async with database.transaction() as s:
            return await repo.mark_update_processed(s, 123456789)

    results = await asyncio.gather(*(deliver() for _ in range(20)))
    assert results.count(True) == 1


async def test_old_update_ids_are_purged(database: Database, now: datetime) -> None:
    async with database.transaction() as s:
        await repo.mark_update_processed(s, 1, now=now - timedelta(days=2))
        await repo.mark_update_processed(s, 2, now=now)
        assert await repo.purge_processed_updates(s, now - timedelta(days=1)) == 1
        assert await repo.mark_update_processed(s, 1) is True
        assert await repo.mark_update_processed(s, 2) is False
