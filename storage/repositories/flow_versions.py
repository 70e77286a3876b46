"""Flow versions: every imported flow file is kept, numbered 1, 2, ... per flow id.

A live interview keeps the version (digest) it started with, so activating a
new version or rolling back never breaks a chat in progress.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, func, insert, literal, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import advisory_lock, now_or, ts
from storage.tables import FlowVersion


async def add_flow_version(
    session: AsyncSession,
    flow_id: str,
    *,
    source: str,
    digest: str,
    created_by: str | None = None,
    activate: bool = False,
    now: datetime | None = None,
) -> FlowVersion:
    """Store a flow's YAML as the next version number of `flow_id`.

    The number is computed inside the INSERT (one statement, atomic on SQLite);
    on PostgreSQL an advisory lock per flow id keeps two imports from both
    taking the same number.
    """
    at = now_or(now)
    await advisory_lock(session, f"flow_version:{flow_id}")
    next_number = (
        sa_select(func.coalesce(func.max(col(FlowVersion.version)), 0) + 1)
        .where(col(FlowVersion.flow_id) == flow_id)
        .scalar_subquery()
    )
    insert_from = sa_select(
        literal(flow_id, String()).label("flow_id"),
        next_number.label("version"),
        literal(digest, String()).label("digest"),
        literal(source, String()).label("source"),
        literal(created_by, String()).label("created_by"),
        ts(at).label("created_at"),
        literal(False).label("active"),
    )
    stmt = (
        insert(FlowVersion)
        .from_select(
            ["flow_id", "version", "digest", "source", "created_by", "created_at", "active"],
            insert_from,
        )
        .returning(col(FlowVersion.id))
    )
    new_id = (await session.exec(stmt)).scalar_one()
    if activate:
        return await activate_flow_version(session, new_id, now=at)
    version = await session.get(FlowVersion, new_id, populate_existing=True)
    assert version is not None
    return version


async def list_flow_versions(
    session: AsyncSession, flow_id: str | None = None
) -> list[FlowVersion]:
    stmt = select(FlowVersion)
    if flow_id is not None:
        stmt = stmt.where(col(FlowVersion.flow_id) == flow_id)
    stmt = stmt.order_by(col(FlowVersion.flow_id), col(FlowVersion.version))
    return list((await session.exec(stmt)).all())


async def list_flow_ids(session: AsyncSession) -> list[str]:
    stmt = sa_select(col(FlowVersion.flow_id)).distinct().order_by(col(FlowVersion.flow_id))
    return list((await session.exec(stmt)).scalars().all())


async def get_flow_version(session: AsyncSession, version_id: int) -> FlowVersion | None:
    return await session.get(FlowVersion, version_id)


async def get_flow_version_by_number(
    session: AsyncSession, flow_id: str, version: int
) -> FlowVersion | None:
    stmt = select(FlowVersion).where(
        col(FlowVersion.flow_id) == flow_id, col(FlowVersion.version) == version
    )
    return (await session.exec(stmt)).first()


async def find_flow_version_by_digest(
    session: AsyncSession, flow_id: str, digest: str
) -> FlowVersion | None:
    """The newest version of `flow_id` with this digest (to skip re-importing a same file)."""
    stmt = (
        select(FlowVersion)
        .where(col(FlowVersion.flow_id) == flow_id, col(FlowVersion.digest) == digest)
        .order_by(col(FlowVersion.version).desc())
    )
    return (await session.exec(stmt)).first()


async def get_active_flow_version(session: AsyncSession, flow_id: str) -> FlowVersion | None:
    stmt = select(FlowVersion).where(
        col(FlowVersion.flow_id) == flow_id, col(FlowVersion.active).is_(True)
    )
    return (await session.exec(stmt.execution_options(populate_existing=True))).first()


async def activate_flow_version(
    session: AsyncSession, version_id: int, *, now: datetime | None = None
) -> FlowVersion:
    """Make one version live and every other version of its flow inactive, atomically.

    Two statements, deactivate then activate: PostgreSQL checks unique indexes
    row by row, so one `SET active = (id = :id)` could trip the one-live-version
    index halfway through.
    """
    at = now_or(now)
    target = await session.get(FlowVersion, version_id)
    if target is None:
        raise LookupError(f"no flow version {version_id}")
    flow_id = target.flow_id
    await advisory_lock(session, f"flow_version:{flow_id}")
    await session.exec(
        update(FlowVersion)
        .where(
            col(FlowVersion.flow_id) == flow_id,
            col(FlowVersion.active).is_(True),
            col(FlowVersion.id) != version_id,
        )
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    await session.exec(
        update(FlowVersion)
        .where(col(FlowVersion.id) == version_id, col(FlowVersion.active).is_(False))
        .values(active=True, activated_at=at)
        .execution_options(synchronize_session=False)
    )
    version = await session.get(FlowVersion, version_id, populate_existing=True)
    assert version is not None
    return version


async def rollback_flow_version(
    session: AsyncSession, flow_id: str, *, now: datetime | None = None
) -> FlowVersion | None:
    """Activate the highest version below the live one; None when there is none."""
    active = await get_active_flow_version(session, flow_id)
    if active is None:
        return None
    stmt = (
        select(FlowVersion)
        .where(col(FlowVersion.flow_id) == flow_id, col(FlowVersion.version) < active.version)
        .order_by(col(FlowVersion.version).desc())
    )
    previous = (await session.exec(stmt)).first()
    if previous is None or previous.id is None:
        return None
    return await activate_flow_version(session, previous.id, now=now)


async def deactivate_flow(session: AsyncSession, flow_id: str) -> int:
    """No live version for `flow_id` (the service falls back to the built-in file)."""
    result = await session.exec(
        update(FlowVersion)
        .where(col(FlowVersion.flow_id) == flow_id, col(FlowVersion.active).is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
