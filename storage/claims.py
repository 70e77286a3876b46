"""Claiming due rows for workers (outbox messages, timers), safe across processes.

A claim marks rows as taken by one worker until a lease runs out; rows whose
lease ran out (the worker died mid-send) are due again. Time comes in as `now`:
nothing here reads the clock, so tests drive time by hand.

- PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE those ids, in one
  transaction. Concurrent workers skip each other's rows instead of waiting, and
  never get the same row. (Two statements rather than `UPDATE ... WHERE id IN
  (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`: the planner may run such a
  subquery more than once and claim more than n rows.)
- SQLite: one UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING. A single
  statement holds the database's write lock, so it is atomic by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlmodel import SQLModel

from storage.database import Database

M = TypeVar("M", bound=SQLModel)


async def claim_rows(
    db: Database,
    model: type[M],
    *,
    due: ColumnElement[bool],
    order_by: Sequence[str],
    limit: int,
    values: dict[str, Any],
    before: Sequence[Any] = (),
) -> list[M]:
    """Set `values` on up to `limit` rows matching `due`, first by the `order_by`
    column names; return them in that order.

    `before` are statements run first in the same transaction (e.g. giving up on
    rows that failed too often), so they and the claim see the same data.
    """
    if limit <= 0:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    pk = table.c.id
    order = [table.c[name] for name in order_by]
    async with db.transaction() as session:
        for stmt in before:
            await session.exec(stmt)
        pick = select(pk).where(due).order_by(*order).limit(limit)
        if db.is_postgres:
            ids = list((await session.exec(pick.with_for_update(skip_locked=True))).scalars())
            if not ids:
                return []
            # Re-checking `due` costs nothing and keeps the claim correct even if
            # a row changed between the two statements.
            target = pk.in_(ids) & due
        else:
            target = pk.in_(pick.scalar_subquery())
        stmt = (
            update(model)
            .where(target)
            .values(values)
            .returning(model)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        rows = list((await session.exec(stmt)).scalars().all())
    # RETURNING has no guaranteed order.
    rows.sort(key=lambda row: tuple(getattr(row, name) for name in order_by))
    return rows
