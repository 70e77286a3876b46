"""Migrations: the alembic schema is the sqlmodel schema, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import storage.tables  # noqa: F401
from storage.database import Database
from storage.migrate import (
    current_revision,
    current_revision_async,
    downgrade_async,
    head_revision,
    upgrade,
    upgrade_async,
)
from storage.timestamps import UTCDateTime
from tests.storage.helpers import make_lead


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(ctx, SQLModel.metadata)


async def _schema_diff(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_diff)


async def test_migrated_schema_matches_the_metadata(db_url: str) -> None:
    await upgrade_async(db_url)
    async with Database(db_url) as db:
        assert await _schema_diff(db) == []


async def test_the_comparison_would_notice_a_difference(db_url: str) -> None:
    # Guards the test above against comparing the wrong schema (and finding nothing).
    await upgrade_async(db_url)
    async with Database(db_url) as db:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP INDEX ix_audit_what"))
        diff = await _schema_diff(db)
    assert [d[0] for d in diff] == ["add_index"]


async def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    async with Database(db_url) as db:
        await upgrade_async(db)
        assert await current_revision_async(db) == head_revision()
        await downgrade_async(db, "base")
        assert await current_revision_async(db) is None
        await upgrade_async(db)
        await upgrade_async(db)  # a second upgrade is a no-op
        assert await _schema_diff(db) == []


def test_sync_upgrade_works_from_any_working_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    upgrade(db_url)
    assert current_revision(db_url) == head_revision() is not None


async def test_one_active_interview_per_lead_holds_in_the_database(
    database: Database, now: datetime
) -> None:
    # The repository keeps this invariant; the partial unique index is the backstop
    # against any other code path, so test it with raw SQL.
    lead = await make_lead(database, 1, now)
    insert = text(
        "INSERT INTO interview (lead_id, flow_id, digest, lang, state, misses, status, "
        "fast_tracked, started_at, updated_at, rev) "
        "VALUES (:lead, 'bant', 'd', 'en', 'q1', 0, :status, false, :t, :t, 0)"
    ).bindparams(bindparam("t", now, type_=UTCDateTime()), lead=lead.id)
    async with database.transaction() as s:
        await s.exec(insert, params={"status": "active"})
        await s.exec(insert, params={"status": "finished"})
        await s.exec(insert, params={"status": "finished"})
    with pytest.raises(IntegrityError):
        async with database.transaction() as s:
            await s.exec(insert, params={"status": "active"})


async def test_one_active_version_per_flow_holds_in_the_database(database: Database) -> None:
    insert = text(
        "INSERT INTO flow_version (flow_id, version, digest, source, created_at, active) "
        "VALUES ('bant', :v, 'd', 'y', :t, :active)"
    ).bindparams(bindparam("t", datetime.now(UTC), type_=UTCDateTime()))
    async with database.transaction() as s:
        await s.exec(insert, params={"v": 1, "active": True})
        await s.exec(insert, params={"v": 2, "active": False})
    with pytest.raises(IntegrityError):
        async with database.transaction() as s:
            await s.exec(insert, params={"v": 3, "active": True})
