"""Shared by the non-Telegram commands: open the database, migrated, quickly."""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services.admin import AdminService
    from storage.database import Database


def open_database(url: str | None = None) -> Database:
    """The configured database (DATABASE_URL, else the default SQLite file)."""
    from storage.database import Database

    if url is None:
        from bot.settings import load_settings

        url = load_settings().database()
    return Database(url)


async def run_admin(
    run: Callable[[AdminService], Awaitable[int]], *refusals: type[Exception]
) -> int:
    """`run` with an AdminService on the migrated database. An AdminError, or one of
    `refusals` (a bad file), is printed to stderr, one problem a line, and exits 1."""
    from bot.services.admin import AdminError, AdminService

    db = open_database()
    try:
        await migrate(db)
        try:
            return await run(AdminService(db))
        except AdminError as exc:
            print(f"qualibot: {exc}", file=sys.stderr)
            return 1
        except refusals as exc:
            for problem in getattr(exc, "problems", None) or [exc]:
                print(problem, file=sys.stderr)
            return 1
    finally:
        await db.dispose()


async def migrate(db: Database) -> None:
    """Apply migrations, skipping alembic entirely when the database is already at head.

    alembic's import and environment cost a few hundred milliseconds on every
    run; the console is what a newcomer runs first, so the common case (nothing
    to do) is answered by one query and a scan of the migration files.
    """
    if await _at_head(db):
        return
    from storage.migrate import upgrade_async

    await upgrade_async(db)


_REVISION = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(.+)$", re.MULTILINE)


def _head_from_files() -> str | None:
    """The single head revision of storage/migrations, or None if unsure."""
    import importlib.util

    # Found without importing storage.migrate, which imports alembic.
    spec = importlib.util.find_spec("storage")
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = Path(next(iter(spec.submodule_search_locations))) / "migrations" / "versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        for name, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            ids = set(re.findall(r"[\"']([^\"']+)[\"']", value))
            (revisions if name == "revision" else parents).update(ids)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def _at_head(db: Database) -> bool:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    head = _head_from_files()
    if head is None:
        return False
    try:
        async with db.session() as session:
            rows = (await session.exec(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:  # no table yet: a new database
        return False
    return [r[0] for r in rows] == [head]
