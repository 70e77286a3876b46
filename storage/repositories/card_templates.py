"""Sales card templates uploaded by admins, numbered 1, 2, ...; at most one active.

No active row means the built-in template (bot/templates/card.html.j2) is used.
Every process renders cards, so the active row's (id, digest) is read per card
(one small indexed query) and the source only when the digest is new to it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, func, insert, literal, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import advisory_lock, now_or, ts
from storage.tables import CardTemplate

_LOCK = "card_template"


async def add_card_template(
    session: AsyncSession,
    *,
    source: str,
    digest: str,
    filename: str | None = None,
    created_by: str | None = None,
    now: datetime | None = None,
) -> CardTemplate:
    """Store a template as the next version (inactive). The number is computed in the
    INSERT; on PostgreSQL an advisory lock keeps two uploads from taking the same one."""
    at = now_or(now)
    await advisory_lock(session, _LOCK)
    next_number = sa_select(
        func.coalesce(func.max(col(CardTemplate.version)), 0) + 1
    ).scalar_subquery()
    rows = sa_select(
        next_number.label("version"),
        literal(digest, String()).label("digest"),
        literal(source, String()).label("source"),
        literal(filename, String()).label("filename"),
        literal(created_by, String()).label("created_by"),
        ts(at).label("created_at"),
        literal(False).label("active"),
    )
    stmt = (
        insert(CardTemplate)
        .from_select(
            ["version", "digest", "source", "filename", "created_by", "created_at", "active"],
            rows,
        )
        .returning(col(CardTemplate.id))
    )
    new_id = (await session.exec(stmt)).scalar_one()
    row = await session.get(CardTemplate, new_id, populate_existing=True)
    assert row is not None
    return row


async def list_card_templates(session: AsyncSession) -> list[CardTemplate]:
    stmt = select(CardTemplate).order_by(col(CardTemplate.version))
    return list((await session.exec(stmt.execution_options(populate_existing=True))).all())


async def get_card_template(session: AsyncSession, version: int) -> CardTemplate | None:
    stmt = select(CardTemplate).where(col(CardTemplate.version) == version)
    return (await session.exec(stmt.execution_options(populate_existing=True))).first()


async def find_card_template_by_digest(session: AsyncSession, digest: str) -> CardTemplate | None:
    stmt = (
        select(CardTemplate)
        .where(col(CardTemplate.digest) == digest)
        .order_by(col(CardTemplate.version).desc())
    )
    return (await session.exec(stmt)).first()


async def get_active_card_template(session: AsyncSession) -> CardTemplate | None:
    stmt = select(CardTemplate).where(col(CardTemplate.active).is_(True))
    return (await session.exec(stmt.execution_options(populate_existing=True))).first()


async def active_card_template_key(session: AsyncSession) -> tuple[int, str] | None:
    """(version, digest) of the active template, without its source: the cheap check."""
    stmt = sa_select(col(CardTemplate.version), col(CardTemplate.digest)).where(
        col(CardTemplate.active).is_(True)
    )
    row = (await session.exec(stmt)).first()
    return None if row is None else (int(row[0]), str(row[1]))


async def activate_card_template(
    session: AsyncSession, version: int, *, now: datetime | None = None
) -> CardTemplate:
    """Make one version active and every other inactive (deactivate first: PostgreSQL
    checks the one-active index row by row)."""
    at = now_or(now)
    await advisory_lock(session, _LOCK)
    target = await get_card_template(session, version)
    if target is None:
        raise LookupError(f"no card template v{version}")
    await session.exec(
        update(CardTemplate)
        .where(col(CardTemplate.active).is_(True), col(CardTemplate.version) != version)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    await session.exec(
        update(CardTemplate)
        .where(col(CardTemplate.version) == version, col(CardTemplate.active).is_(False))
        .values(active=True, activated_at=at)
        .execution_options(synchronize_session=False)
    )
    row = await get_card_template(session, version)
    assert row is not None
    return row


async def deactivate_card_templates(session: AsyncSession) -> int:
    """Back to the built-in template."""
    await advisory_lock(session, _LOCK)
    result = await session.exec(
        update(CardTemplate)
        .where(col(CardTemplate.active).is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
