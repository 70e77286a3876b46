"""Database fixtures (to be lifted into tests/conftest.py).

    backend    "sqlite" | "postgres", parametrizes every test that uses the fixtures
               below; "postgres" is skipped (reported as skipped, with the reason)
               unless TEST_DATABASE_URL is set. A set but unreachable URL fails.
    db_url     a fresh, empty (unmigrated) database URL: a new SQLite file, or a
               new PostgreSQL schema named in the URL (`?options=-csearch_path=...`,
               understood by storage.Database). For migration tests.
    database   a migrated, empty `storage.database.Database`, disposed afterwards.
    now        a fixed aware UTC datetime, for the `now=` arguments.

Speed (these run hundreds of times): migrations run once per test session, into a
template SQLite file that each test copies (~1 ms) and into one PostgreSQL schema
per session that each test empties with DELETEs (~4 ms). Schemas have random
names, so test runs sharing one PostgreSQL server do not meet. Tests must not
assume ids start at 1 on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (tables on SQLModel.metadata)
from storage.database import Database
from storage.migrate import upgrade

PG_ENV = "TEST_DATABASE_URL"
PG_SKIP_REASON = (
    f"PostgreSQL tests need {PG_ENV}, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


# Schemas are named qbt_<unix time>_<random>: a run that was killed leaves its
# schema behind, and the next run drops those older than STALE_SCHEMA_SECONDS
# (old enough that no live run, ours or a colleague's, can still be using them).
STALE_SCHEMA_SECONDS = 6 * 3600


def _new_schema() -> str:
    return f"qbt_{int(time.time())}_{uuid.uuid4().hex[:12]}"


async def _drop_stale_schemas(base_url: str) -> None:
    db = Database(base_url)
    try:
        async with db.engine.begin() as conn:
            names = (
                await conn.execute(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qbt\\_%'")
                )
            ).scalars()
            for name in list(names):
                stamp = name.split("_")[1] if name.count("_") >= 2 else ""
                if stamp.isdigit() and time.time() - int(stamp) > STALE_SCHEMA_SECONDS:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        await db.dispose()


def _with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run setup code to completion, also when called from inside a running loop
    (session fixtures are first requested by async fixtures)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


async def _admin(base_url: str, sql: str) -> None:
    db = Database(base_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and _pg_base_url() is None:
        pytest.skip(PG_SKIP_REASON)
    return request.param


@pytest.fixture
def now() -> datetime:
    return datetime(2030, 5, 17, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    base = _pg_base_url()
    assert base is not None
    schema = _new_schema()
    _run(_admin(base, f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_schema(base, schema)
    finally:
        _run(_admin(base, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "qualibot.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    # Disposing the engine checkpointed the WAL, so the file alone is the database.
    return path


@pytest.fixture(scope="session")
def _pg_session_url() -> Iterator[str]:
    base = _pg_base_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    _run(_drop_stale_schemas(base))
    schema = _new_schema()
    _run(_admin(base, f'CREATE SCHEMA "{schema}"'))
    url = _with_schema(base, schema)
    try:
        upgrade(url)
        yield url
    finally:
        _run(_admin(base, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def _empty_all_tables(db: Database) -> None:
    # DELETE, children first: on a few rows it is ten times faster than TRUNCATE.
    async with db.engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await conn.execute(table.delete())


@pytest.fixture
async def database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "qualibot.db"
        shutil.copyfile(template, path)
        db = Database(f"sqlite+aiosqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("_pg_session_url"))
        await _empty_all_tables(db)
    try:
        yield db
    finally:
        await db.dispose()
