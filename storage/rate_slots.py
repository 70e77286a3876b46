"""Send budgets shared by every bot process, kept in the database (`rate_slot`).

Telegram counts a group's messages per bot, whichever process sends them: two
processes pacing themselves at one message every 3 s put two messages into the
group within 3 s. So the group's budget lives in one row that every process
claims before sending.

One row per budget holds `next_at`, the earliest time the next send may go out
(GCRA, the "virtual scheduling" form of a token bucket). `take` is a single
INSERT ... ON CONFLICT DO UPDATE ... WHERE next_at <= now RETURNING statement:
atomic on both databases (PostgreSQL locks the row for the statement; SQLite has
one writer), so of two processes claiming at once exactly one gets the slot and
the other learns how long to wait. Nothing is reserved ahead: a claimer that is
told to wait sleeps and claims again, so a process that dies or is slow between
claims wastes no slot and cannot push a later send too close to an earlier one.

Time: by default the database's own clock (PostgreSQL `statement_timestamp()`,
SQLite `julianday('now')`), so processes on hosts whose clocks disagree still
space their sends correctly. Tests pass `now` (a fake clock's seconds) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from storage.database import Database

# A claimer that slept exactly until next_at may wake a hair early (float seconds,
# datetimes with microseconds): that close counts as due, or it would spin.
TOLERANCE = 1e-3
MIN_WAIT = 1e-3

_DB_NOW = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM statement_timestamp()) AS DOUBLE PRECISION)",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}


def _num(name: str) -> str:
    # Typed, or PostgreSQL cannot tell what `$1 + $2` adds (asyncpg sends them untyped).
    return f"CAST(:{name} AS DOUBLE PRECISION)"


def _now_sql(db: Database, now: float | None, params: dict[str, Any]) -> str:
    if now is not None:
        params["now"] = float(now)
        return _num("now")
    try:
        return _DB_NOW[db.dialect]
    except KeyError:
        raise NotImplementedError(f"unsupported database dialect {db.dialect!r}") from None


async def take(
    db: Database, key: str, interval: float, *, burst: int = 0, now: float | None = None
) -> float:
    """Claim one send on `key` if it is due: 0.0, else the seconds to wait first.

    At most one send per `interval` seconds on average, with up to `burst` extra
    sends back to back after a quiet spell (0: evenly spaced, as a group wants).
    Runs its own short transaction.
    """
    params: dict[str, Any] = {
        "key": key,
        "interval": float(interval),
        "tau": float(interval) * burst,
        "tol": TOLERANCE,
    }
    n = _now_sql(db, now, params)
    interval_, tau, tol = _num("interval"), _num("tau"), _num("tol")
    claim = text(
        f"INSERT INTO rate_slot (key, next_at) VALUES (:key, {n} + {interval_}) "
        "ON CONFLICT (key) DO UPDATE SET next_at = "
        f"(CASE WHEN rate_slot.next_at > {n} THEN rate_slot.next_at ELSE {n} END) + {interval_} "
        f"WHERE rate_slot.next_at - {tau} <= {n} + {tol} "
        "RETURNING next_at"
    )
    async with db.transaction() as session:
        if (await session.exec(claim, params=params)).first() is not None:
            return 0.0
        # Not due: how long until it is (the row exists, or the INSERT would have won).
        wait = (
            await session.exec(
                text(f"SELECT next_at - {tau} - {n} FROM rate_slot WHERE key = :key"),
                params=params,
            )
        ).scalar_one()
    return max(float(wait), MIN_WAIT)


async def hold(db: Database, key: str, seconds: float, *, now: float | None = None) -> None:
    """Nothing on `key` for `seconds` (Telegram answered 429 with retry_after)."""
    params: dict[str, Any] = {"key": key, "seconds": float(seconds)}
    n = _now_sql(db, now, params)
    until = f"({n} + {_num('seconds')})"
    async with db.transaction() as session:
        await session.exec(
            text(
                f"INSERT INTO rate_slot (key, next_at) VALUES (:key, {until}) "
                "ON CONFLICT (key) DO UPDATE SET next_at = "
                f"CASE WHEN rate_slot.next_at > {until} THEN rate_slot.next_at ELSE {until} END"
            ),
            params=params,
        )


class SharedRate:
    """`take` and `hold` on one database, with an optional clock (seconds since the
    epoch) instead of the database's: tests give their fake clock."""

    def __init__(self, db: Database, *, wall: Callable[[], float] | None = None) -> None:
        self.db = db
        self.wall = wall

    def _now(self) -> float | None:
        return None if self.wall is None else self.wall()

    async def take(self, key: str, interval: float, *, burst: int = 0) -> float:
        return await take(self.db, key, interval, burst=burst, now=self._now())

    async def hold(self, key: str, seconds: float) -> None:
        await hold(self.db, key, seconds, now=self._now())
