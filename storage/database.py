"""Database setup: one `Database` per process, made from a URL.

SQLite (the default, a file under ./data) and PostgreSQL are both first-class.
Plain URLs (`sqlite:///x.db`, `postgresql://`, `postgres://`) are rewritten to
the async drivers so a DATABASE_URL copied from a hosting panel just works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

DEFAULT_SQLITE_PATH = Path("data") / "qualibot.db"

# Applied on every new SQLite connection: WAL lets readers work while one writer
# writes; NORMAL is durable enough with WAL and much faster; the busy timeout makes
# a second writer wait instead of failing with "database is locked"; SQLite
# leaves foreign keys off unless asked, per connection.
SQLITE_PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)


def default_database_url(cwd: Path | None = None) -> str:
    """`sqlite+aiosqlite:///<cwd>/data/qualibot.db`, creating the folder.

    The path is made absolute here so a later chdir cannot move the database.
    """
    path = ((cwd or Path.cwd()) / DEFAULT_SQLITE_PATH).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{path}"


def normalize_url(url: str | URL) -> URL:
    """Rewrite sync or shorthand URLs to the async drivers we ship."""
    u = make_url(url) if isinstance(url, str) else url
    backend, _, driver = u.drivername.partition("+")
    if backend == "postgres":  # Heroku-style scheme, which SQLAlchemy rejects
        backend = "postgresql"
        u = u.set(drivername=f"{backend}+{driver}" if driver else backend)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and driver in ("", "psycopg2", "asyncpg"):
        u = u.set(drivername="postgresql+asyncpg")
        # asyncpg spells libpq's sslmode as ssl.
        if "sslmode" in u.query and "ssl" not in u.query:
            query = dict(u.query)
            query["ssl"] = query.pop("sslmode")
            u = u.set(query=query)
    return u


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, None for in-memory databases and other backends."""
    if url.get_backend_name() != "sqlite":
        return None
    db = url.database or ""
    if db in ("", ":memory:") or db.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(db)


def pg_server_settings(options: str) -> dict[str, str]:
    """libpq's `options` URL parameter ("-c name=value ...", "--name=value") as a dict.

    asyncpg does not take `options`; it takes the same settings as `server_settings`.
    This is how a URL can carry e.g. a search_path (a schema) all by itself.
    """
    settings: dict[str, str] = {}
    tokens = options.split()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "-c" and i + 1 < len(tokens):
            i += 1
            token = tokens[i]
        elif token.startswith(("-c", "--")):
            token = token[2:]
        name, sep, value = token.partition("=")
        if not sep or not name:
            raise ValueError(f"cannot read PostgreSQL option {tokens[i]!r} in {options!r}")
        settings[name.replace("-", "_")] = value
        i += 1
    return settings


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


class _WriterLock:
    """One SQLite write transaction at a time in this process (FIFO, like asyncio.Lock).

    Re-entrant per task: a transaction opened inside another one by the same task
    (a helper that opens its own) runs in it instead of deadlocking. Made per event
    loop, so a Database used by several loops one after the other (tests) works.
    """

    __slots__ = ("_lock", "_loop", "_owner")

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owner: asyncio.Task[Any] | None = None

    def held_by_me(self) -> bool:
        return self._owner is not None and self._owner is asyncio.current_task()

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop, self._owner = asyncio.Lock(), loop, None
        await self._lock.acquire()
        self._owner = asyncio.current_task()

    async def __aexit__(self, *exc: object) -> None:
        self._owner = None
        assert self._lock is not None
        self._lock.release()


class Database:
    """An async engine and session factory.

    `async with db.transaction() as s:` commits when the block ends normally and
    rolls back on an exception; `async with db.session() as s:` leaves
    committing to the caller (and rolls back whatever is left uncommitted).
    Sessions keep loaded objects usable after commit (`expire_on_commit=False`).
    Extra keyword arguments go to `create_async_engine` (e.g. `connect_args`).
    """

    def __init__(self, url: str | URL, *, echo: bool = False, **engine_kwargs: Any) -> None:
        self.url: URL = normalize_url(url)
        path = sqlite_file(self.url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine_url = self.url
        if self.url.get_backend_name() == "postgresql":
            # A bot idles for hours; a dead pooled connection should be replaced, not fail.
            engine_kwargs.setdefault("pool_pre_ping", True)
            options = self.url.query.get("options")
            if isinstance(options, str) and self.url.get_driver_name() == "asyncpg":
                engine_url = self.url.difference_update_query(["options"])
                connect_args = dict(engine_kwargs.get("connect_args") or {})
                server_settings = {
                    **pg_server_settings(options),
                    **(connect_args.get("server_settings") or {}),
                }
                engine_kwargs["connect_args"] = {**connect_args, "server_settings": server_settings}
        if self.url.get_driver_name() == "aiosqlite" and "async_creator" not in engine_kwargs:
            # One thread hop per statement instead of four (storage/sqlite_driver.py).
            from storage.sqlite_driver import lean_creator

            user_args = dict(engine_kwargs.pop("connect_args", None) or {})

            def connect_args() -> tuple[list[Any], dict[str, Any]]:
                args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
                return list(args), {**kwargs, **user_args}

            engine_kwargs["async_creator"] = lean_creator(connect_args)
        self.engine: AsyncEngine = create_async_engine(engine_url, echo=echo, **engine_kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _set_sqlite_pragmas)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._writer = _WriterLock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        if not self.is_sqlite or self._writer.held_by_me():
            async with self.sessionmaker() as session, session.begin():
                yield session
            return
        # SQLite has one writer: transactions of this process take turns here instead
        # of colliding in SQLite (busy_timeout sleeps, "database is locked", retries).
        async with self._writer, self.sessionmaker() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
