"""Per-chat locks across bot processes (PostgreSQL advisory locks).

Several bot processes behind one webhook URL may each get an update of the same
chat; the in-process ChatLock (bot/telegram/middlewares.py) only orders them
inside one process. `ChatLocks.hold(key)` is the cross-process part: held for
the whole handling of one update, reply included.

Design, and why:
- Session-level advisory locks (`pg_try_advisory_lock`), not transaction-level
  ones: the lock must outlive the service's short transactions and the sending
  of the reply, and a transaction left open for that long would hold a pooled
  connection "idle in transaction".
- All of a process's chat locks live on ONE connection, borrowed from the
  database's pool while any lock is held or awaited and given back when none is.
  Advisory locks are counted per session, so one session can hold any number
  of them: 100 chats handled at once cost one connection, not 100. That is also
  why the lock is taken inside the in-process lock: on a shared session a second
  `pg_try_advisory_lock` of the same key by this process would succeed.
- `pg_try_advisory_lock` never blocks, so the one connection is never stuck
  behind a busy chat; a waiter polls with a short backoff (10 ms up to 100 ms).
  Contention is rare (one prospect's updates split between processes), so the
  polling costs little, and there is no server-side waiter to clean up when a
  waiting task is cancelled.
- A process that dies holding locks frees them: PostgreSQL drops session locks
  with the connection. If the lock connection itself breaks, its locks are gone;
  the holders carry on (the services' optimistic check, StaleInterviewError, is
  the backstop), the failure is logged, and the next lock gets a new connection.
- A lock that cannot be had within `max_wait` (another process stuck), or a
  database that fails meanwhile, does not stop the update: it is handled without
  the cross-process lock and a warning is logged.
- Keys include the schema (`current_schema()`), so deployments that share one
  database in separate schemas never wait on each other.

SQLite runs one process, so there is nothing to lock: `chat_locks(db)` is None.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

_KEY = "hashtextextended(current_schema() || ':chat:' || :key, 0)"
_TRY = text(f"SELECT pg_try_advisory_lock({_KEY})")
_UNLOCK = text(f"SELECT pg_advisory_unlock({_KEY})")
_UNLOCK_ALL = text("SELECT pg_advisory_unlock_all()")


class ChatLocks:
    """Cross-process per-chat locks on one PostgreSQL session (see the module doc)."""

    def __init__(
        self,
        db: Database,
        *,
        max_wait: float = 20.0,
        backoff: tuple[float, float] = (0.01, 0.1),
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not db.is_postgres:
            raise ValueError("cross-process chat locks need PostgreSQL")
        self.db = db
        self.max_wait = max_wait
        self.backoff = backoff
        self.sleep = sleep
        self.clock = clock
        self._conn: AsyncConnection | None = None
        self._generation = 0  # bumped when the connection is dropped: its locks are gone
        self._users = 0  # holders and waiters; the connection goes back to the pool at 0
        self._mutex: asyncio.Lock | None = None  # one statement at a time on the connection
        self.held = 0
        self.unlocked_runs = 0  # updates handled without the lock (timeout, database error)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[bool]:
        """Hold the lock of `key` (a chat id) for the block; yields whether it is held."""
        self._users += 1
        generation: int | None = None
        try:
            generation = await self._acquire(str(key))
            if generation is None:
                self.unlocked_runs += 1
            else:
                self.held += 1
            yield generation is not None
        finally:
            try:
                if generation is not None:
                    self.held -= 1
                    await self._release(str(key), generation)
            finally:
                self._users -= 1
                if self._users == 0:
                    await self._give_back()

    # ---------------------------------------------------------------- internals

    def _lock(self) -> asyncio.Lock:
        if self._mutex is None:
            self._mutex = asyncio.Lock()
        return self._mutex

    async def _execute(self, statement: Any, key: str, *, connect: bool = True) -> tuple[bool, int]:
        """Run a lock statement on the lock connection: (its boolean, the generation).
        Without `connect`, a missing connection means (False, generation)."""
        async with self._lock():
            if self._conn is None:
                if not connect:
                    return False, self._generation
                conn = await self.db.engine.connect()
                try:
                    # Each statement commits: no transaction stays open on this session.
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                except BaseException:
                    await conn.close()
                    raise
                self._conn = conn
            try:
                value = (await self._conn.execute(statement, {"key": key})).scalar_one()
            except BaseException:
                # Broken, or cancelled mid-statement (a lock may have been taken without
                # us knowing): drop the session, which frees whatever it held.
                await self._drop()
                raise
            return bool(value), self._generation

    async def _acquire(self, key: str) -> int | None:
        start = self.clock()
        delay = self.backoff[0]
        while True:
            try:
                got, generation = await self._execute(_TRY, key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Chat %s: no cross-process lock (%s); going on without", key, exc)
                return None
            if got:
                return generation
            if self.clock() - start >= self.max_wait:
                log.warning(
                    "Chat %s: still locked by another process after %.0f s; going on without",
                    key,
                    self.max_wait,
                )
                return None
            await self.sleep(delay)
            delay = min(self.backoff[1], delay * 2)

    async def _release(self, key: str, generation: int) -> None:
        if generation != self._generation or self._conn is None:
            return  # that session is gone, and its locks with it
        try:
            # Shielded: a cancelled update must still unlock, or the session would keep
            # the chat locked for as long as it lives.
            released, _ = await asyncio.shield(self._execute(_UNLOCK, key, connect=False))
        except Exception as exc:
            log.warning("Chat %s: releasing the cross-process lock failed (%s)", key, exc)
            return
        if not released:
            log.warning("Chat %s: the cross-process lock was not held at release", key)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._generation += 1
        if conn is not None:
            try:
                await conn.invalidate()
            except Exception:
                log.debug("Closing a broken lock connection failed", exc_info=True)

    async def _give_back(self) -> None:
        async with self._lock():
            if self._users == 0 and self._conn is not None:
                conn, self._conn = self._conn, None
                self._generation += 1
                try:
                    # Belt and braces: a pooled session must not keep a chat locked.
                    await conn.execute(_UNLOCK_ALL)
                    await conn.close()  # back to the pool
                except BaseException as exc:
                    with contextlib.suppress(Exception):
                        await conn.invalidate()  # closed, not pooled: its locks go with it
                    if not isinstance(exc, Exception):
                        raise
                    log.debug("Returning the lock connection failed", exc_info=True)

    async def close(self) -> None:
        """Drop the connection now (its locks go with it)."""
        async with self._lock():
            await self._drop()


def chat_locks(db: Database, **options: Any) -> ChatLocks | None:
    """Cross-process chat locks for this database: PostgreSQL only (SQLite serves one
    process, whose in-process ChatLock is enough)."""
    return ChatLocks(db, **options) if db.is_postgres else None
