"""Database setup: URLs, SQLite pragmas and folders, session and transaction scopes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import repositories as repo
from storage.database import Database, default_database_url, normalize_url, pg_server_settings
from storage.migrate import current_revision_async, head_revision, upgrade_async
from storage.tables import Setting


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///data/q.db", "sqlite+aiosqlite:///data/q.db"),
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?ssl=require"),
    ],
)
def test_urls_are_rewritten_to_async_drivers(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


def test_default_url_is_a_file_under_data_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = default_database_url()
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'data' / 'qualibot.db'}"
    assert (tmp_path / "data").is_dir()


def test_pg_options_become_server_settings() -> None:
    assert pg_server_settings("-csearch_path=a -c statement_timeout=5000 --work-mem=4MB") == {
        "search_path": "a",
        "statement_timeout": "5000",
        "work_mem": "4MB",
    }
    with pytest.raises(ValueError):
        pg_server_settings("-c nonsense")


async def test_sqlite_file_parent_is_created_and_pragmas_set(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "q.db"
    db = Database(f"sqlite:///{path}")
    try:
        async with db.session() as s:
            mode = (await s.exec(text("PRAGMA journal_mode"))).scalar_one()
            sync = (await s.exec(text("PRAGMA synchronous"))).scalar_one()
            busy = (await s.exec(text("PRAGMA busy_timeout"))).scalar_one()
            fks = (await s.exec(text("PRAGMA foreign_keys"))).scalar_one()
    finally:
        await db.dispose()
    assert path.parent.is_dir()
    assert (mode, sync, busy, fks) == ("wal", 1, 5000, 1)  # synchronous 1 = NORMAL


async def test_in_memory_sqlite_shares_one_connection() -> None:
    async with Database("sqlite+aiosqlite://") as db:
        async with db.transaction() as s:
            await s.exec(text("CREATE TABLE t (x INTEGER)"))
            await s.exec(text("INSERT INTO t VALUES (1)"))
        async with db.session() as s:
            assert (await s.exec(text("SELECT x FROM t"))).scalar_one() == 1


async def test_transaction_commits_on_success_and_rolls_back_on_error(
    database: Database,
) -> None:
    async with database.transaction() as s:
        s.add(Setting(key="a", value="1"))

    with pytest.raises(RuntimeError):
        async with database.transaction() as s:
            s.add(Setting(key="b", value="2"))
            await s.flush()
            raise RuntimeError("boom")

    async with database.session() as s:
        s.add(Setting(key="c", value="3"))
        await s.flush()
        # leaving without commit: rolled back

    async with database.session() as s:
        keys = (await s.exec(text("SELECT key FROM setting ORDER BY key"))).scalars().all()
    assert keys == ["a"]


async def test_objects_stay_usable_after_commit(database: Database) -> None:
    async with database.transaction() as s:
        row = Setting(key="k", value="v")
        s.add(row)
    # expire_on_commit=False: no lazy reload (which would fail outside a greenlet)
    assert row.value == "v"


def test_storage_imports_neither_aiogram_nor_flows_nor_bot() -> None:
    code = (
        "import sys, storage.database, storage.tables, storage.repositories, "
        "storage.outbox, storage.timers, storage.migrate\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('aiogram', 'flows', 'bot')]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env)


async def test_an_in_memory_database_can_be_migrated_and_used() -> None:
    # What `python -m bot chat --memory` needs: nothing on disk, same schema.
    async with Database("sqlite+aiosqlite:///:memory:") as db:
        await upgrade_async(db)
        assert await current_revision_async(db) == head_revision()
        async with db.transaction() as s:
            lead, created = await repo.get_or_create_lead(s, 1)
        async with db.session() as s:
            assert (await repo.get_lead(s, lead.id or 0)) is not None and created


async def test_sqlite_write_transactions_of_one_process_take_turns(tmp_path: Path) -> None:
    """Regression: concurrent write transactions collided in SQLite ("database is
    locked" after busy_timeout, then retries); now they queue in the process."""
    import asyncio

    from sqlalchemy import event

    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}") as db:

        @event.listens_for(db.engine.sync_engine, "connect")
        def no_busy_wait(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA busy_timeout=0")  # a collision would fail at once
            cursor.close()

        async with db.transaction() as s:
            await s.exec(text("CREATE TABLE t (x INTEGER)"))

        async def write(i: int) -> None:
            async with db.transaction() as s:
                await s.exec(text("INSERT INTO t VALUES (:x)"), params={"x": i})
                await asyncio.sleep(0)  # let the others try to write meanwhile
                await s.exec(text("UPDATE t SET x = x WHERE x = :x"), params={"x": i})

        await asyncio.gather(*(write(i) for i in range(20)))
        # One task nesting a transaction: no deadlock on the lock it holds.
        async with db.transaction(), db.transaction() as inner:
            await inner.exec(text("SELECT 1"))
        async with db.session() as s:
            assert (await s.exec(text("SELECT count(*) FROM t"))).scalar_one() == 20


async def test_sqlite_statement_rows_come_back_through_the_lean_driver(tmp_path: Path) -> None:
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'lean.db'}") as db:
        async with db.transaction() as s:
            await s.exec(text("CREATE TABLE t (x INTEGER)"))
            await s.exec(text("INSERT INTO t VALUES (1), (2), (3)"))
            rows = (await s.exec(text("INSERT INTO t VALUES (4) RETURNING x"))).all()
            assert [r[0] for r in rows] == [4]
        async with db.session() as s:
            result = await s.exec(text("SELECT x FROM t ORDER BY x"))
            assert [r[0] for r in result.all()] == [1, 2, 3, 4]
            assert (await s.exec(text("SELECT x FROM t WHERE x > 9"))).first() is None
