"""Timestamps: aware UTC in and out, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import col, select

from storage import repositories as repo
from storage.database import Database
from storage.tables import Audit

MOSCOW = timezone(timedelta(hours=3))
NEW_YORK = timezone(timedelta(hours=-5))


async def test_aware_values_round_trip_as_utc(database: Database) -> None:
    at = datetime(2030, 1, 1, 12, 0, 0, 654321, tzinfo=MOSCOW)
    async with database.transaction() as s:
        row = await repo.add_audit(s, "cli", "x", now=at)
        row_id = row.id
    async with database.session() as s:
        back = await s.get(Audit, row_id)
    assert back is not None
    assert back.at == at  # same instant
    assert back.at.tzinfo is UTC
    assert back.at == datetime(2030, 1, 1, 9, 0, 0, 654321, tzinfo=UTC)  # microseconds kept


async def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with database.transaction() as s:
            s.add(Audit(who="cli", what="x", at=datetime(2030, 1, 1, 12, 0)))
            await s.flush()


async def test_comparisons_follow_time_not_text_across_offsets(database: Database) -> None:
    # 10:00 in New York is later than 17:00 in Moscow (15:00 vs 14:00 UTC).
    ny = datetime(2030, 1, 1, 10, 0, tzinfo=NEW_YORK)
    msk = datetime(2030, 1, 1, 17, 0, tzinfo=MOSCOW)
    async with database.transaction() as s:
        await repo.add_audit(s, "a", "ny", now=ny)
        await repo.add_audit(s, "a", "msk", now=msk)
    async with database.session() as s:
        order = (await s.exec(select(Audit.what).order_by(col(Audit.at)))).all()
        later = (
            await s.exec(
                select(Audit.what).where(col(Audit.at) > datetime(2030, 1, 1, 14, 30, tzinfo=UTC))
            )
        ).all()
    assert list(order) == ["msk", "ny"]
    assert list(later) == ["ny"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_stores_utc_text(database: Database) -> None:
    async with database.transaction() as s:
        await repo.add_audit(s, "a", "x", now=datetime(2030, 1, 1, 17, 0, tzinfo=MOSCOW))
    async with database.session() as s:
        raw = (await s.exec(text("SELECT at FROM audit"))).scalar_one()
    assert raw == "2030-01-01 14:00:00.000000"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_columns_are_timestamptz_and_bigint(database: Database) -> None:
    sql = text(
        "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    )
    async with database.session() as s:
        types = dict((await s.exec(sql)).all())
    for column in ("lead.created_at", "outbox.not_before", "timer.due_at", "audit.at"):
        assert types[column] == "timestamp with time zone", column
    for column in (
        "lead.telegram_id",
        "outbox.chat_id",
        "handoff.chat_id",
        "handoff.message_id",
        "handoff.taken_by",
        "processed_update.update_id",
        "stage_change.by_user",
    ):
        assert types[column] == "bigint", column
