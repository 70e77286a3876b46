"""Small dialect helpers shared by repositories and the outbox.

Only two things differ between SQLite and PostgreSQL in our queries: the
`insert` construct that knows ON CONFLICT, and locking. On locking the rule in
this package is *write first*: a transaction that must read-then-write starts
with an UPDATE. On SQLite that takes the single write lock at once (waiting up
to busy_timeout), and the driver runs earlier SELECTs outside any transaction,
so there is no stale snapshot to upgrade; on PostgreSQL it takes the row lock,
and later statements (READ COMMITTED) see everything committed before it.
Where there is no row to touch, PostgreSQL gets an advisory lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import BindParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.timestamps import UTCDateTime, as_utc, utcnow


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def upsert_insert(session: AsyncSession, table: Any) -> Any:
    """`INSERT` that supports `.on_conflict_do_nothing/_do_update` on this dialect."""
    name = dialect_name(session)
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {name!r}")


async def advisory_lock(session: AsyncSession, key: str) -> None:
    """Serialise transactions on `key` until commit (PostgreSQL; no-op on SQLite,
    where the caller's first write serialises instead)."""
    if dialect_name(session) == "postgresql":
        await session.exec(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            params={"key": key},
        )


def ts(value: datetime) -> BindParameter[datetime]:
    """A timestamp bound with our column type, for SQL expressions such as coalesce()."""
    return bindparam(None, as_utc(value), type_=UTCDateTime())


def now_or(now: datetime | None) -> datetime:
    return utcnow() if now is None else as_utc(now)
