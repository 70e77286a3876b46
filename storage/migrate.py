"""Apply the schema migrations from code, from any working directory.

The alembic configuration is built here, pointing at this package's own
`migrations/` folder, so an installed package needs no alembic.ini anywhere.

    upgrade(url)                  # sync: the command line, scripts
    await upgrade_async(url_or_db)  # from async code: the bot at start, tests

On PostgreSQL the upgrade holds an advisory lock, so several processes starting
at once migrate one after another instead of racing on CREATE TABLE.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection

from storage.database import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant would do; it only has to be the same in every Qualibot process.
_PG_MIGRATION_LOCK = 7_305_231_914

T = TypeVar("T")


def alembic_config() -> Config:
    cfg = Config()
    # configparser treats % specially; a path may contain one.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _on_connection(connection: Connection, action: Callable[[Config], None]) -> None:
    if connection.dialect.name == "postgresql":
        # Released when the surrounding transaction ends.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    action(cfg)


async def _run(target: str | Database, action: Callable[[Config], None]) -> None:
    own = isinstance(target, str)
    db = Database(target, poolclass=pool.NullPool) if isinstance(target, str) else target
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_on_connection, action)
    finally:
        if own:
            await db.dispose()


async def upgrade_async(target: str | Database, revision: str = "head") -> None:
    """Upgrade to `revision` on a URL, or on an existing Database's engine."""
    await _run(target, lambda cfg: command.upgrade(cfg, revision))


async def downgrade_async(target: str | Database, revision: str) -> None:
    await _run(target, lambda cfg: command.downgrade(cfg, revision))


async def current_revision_async(target: str | Database) -> str | None:
    found: list[str | None] = []

    def read(cfg: Config) -> None:
        found.append(
            MigrationContext.configure(cfg.attributes["connection"]).get_current_revision()
        )

    await _run(target, read)
    return found[0]


def _run_sync(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop's thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    # Called from a thread that runs a loop: asyncio.run would refuse, so use a thread.
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro_factory()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="qualibot-migrate")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def upgrade(url: str, revision: str = "head") -> None:
    """Sync upgrade to the newest schema (or `revision`)."""
    _run_sync(lambda: upgrade_async(url, revision))


def downgrade(url: str, revision: str) -> None:
    _run_sync(lambda: downgrade_async(url, revision))


def current_revision(url: str) -> str | None:
    return _run_sync(lambda: current_revision_async(url))
