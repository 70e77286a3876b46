"""aiosqlite with one thread hop per statement instead of four.

aiosqlite runs every sqlite3 call on the connection's own thread, and
SQLAlchemy's adapter makes four such calls per statement (make a cursor,
execute, fetch the rows, close the cursor): each a queue put, a thread wake-up,
a GIL hand-over and a wake-up of the event loop. That was ~15% of the bot's CPU.
Here the statement and its rows travel in one hop; making and closing a cursor
(no I/O) run inline, as do commit and rollback when no transaction is open.
Everything that can wait on the database (a statement, a real commit) still
runs on the thread, so a locked database never blocks the event loop.

Used by `storage.database.Database` for SQLite through `create_async_engine`'s
`async_creator`; SQLAlchemy's aiosqlite dialect sees an ordinary
`aiosqlite.Connection`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import aiosqlite
from aiosqlite.context import Result


class LeanCursor(aiosqlite.Cursor):
    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._rows: list[Any] | None = None

    def _execute_and_fetch(self, sql: str, parameters: Iterable[Any]) -> None:
        self._cursor.execute(sql, parameters)
        # A statement with rows (SELECT, RETURNING): fetch them on the same trip.
        self._rows = self._cursor.fetchall() if self._cursor.description else None

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> LeanCursor:
        await self._execute(self._execute_and_fetch, sql, [] if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> LeanCursor:
        self._rows = None
        await super().executemany(sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        if self._rows is None:
            return list(await super().fetchall())
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        if self._rows is None:
            return await super().fetchone()
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._rows is None:
            return list(await super().fetchmany(size))
        n = size or self._cursor.arraysize
        rows, self._rows = self._rows[:n], self._rows[n:]
        return rows

    async def close(self) -> None:
        # No I/O (the statement is done), and SQLAlchemy serialises the use of
        # a connection, so its thread is idle now.
        self._rows = None
        self._cursor.close()


class LeanConnection(aiosqlite.Connection):
    def cursor(self) -> Result[LeanCursor]:  # type: ignore[override]
        return Result(self._new_cursor())

    async def _new_cursor(self) -> LeanCursor:
        return LeanCursor(self, self._conn.cursor())

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        # The pool rolls back every connection it gets back, mostly with nothing open.
        if self._conn.in_transaction:
            await super().rollback()


def lean_creator(
    connect_args: Callable[[], tuple[list[Any], dict[str, Any]]],
) -> Callable[[], LeanConnection]:
    """An `async_creator` for create_async_engine: `connect_args()` gives sqlite3.connect's
    arguments (asked at the first connection, when the engine's dialect exists)."""

    def create() -> LeanConnection:
        args, kwargs = connect_args()
        # Cursors are made and closed on the event loop's thread (above); the module's
        # SQLite is built serialised (sqlite3.threadsafety == 3) and uses never overlap.
        kwargs = {**kwargs, "check_same_thread": False}

        def connector() -> sqlite3.Connection:
            return sqlite3.connect(*args, **kwargs)

        conn = LeanConnection(connector, 64)
        conn._thread.daemon = True  # as SQLAlchemy does for aiosqlite: never hold up exit
        return conn

    return create


__all__ = ["LeanConnection", "LeanCursor", "lean_creator"]
