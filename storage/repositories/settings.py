"""Key/value settings (e.g. the default flow) and deep links (t.me/bot?start=payload)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sql import now_or, upsert_insert
from storage.tables import DeepLink, Setting

# Telegram's rule for /start payloads.
DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


async def get_setting(session: AsyncSession, key: str, default: str | None = None) -> str | None:
    row = await session.get(Setting, key, populate_existing=True)
    return default if row is None else row.value


async def set_setting(
    session: AsyncSession, key: str, value: str, *, now: datetime | None = None
) -> None:
    at = now_or(now)
    stmt = upsert_insert(session, Setting).values(key=key, value=value, updated_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": value, "updated_at": at}
    )
    await session.exec(stmt)


async def delete_setting(session: AsyncSession, key: str) -> bool:
    result = await session.exec(delete(Setting).where(col(Setting.key) == key))
    return result.rowcount == 1


async def list_settings(session: AsyncSession) -> dict[str, str]:
    rows = await session.exec(select(Setting).order_by(col(Setting.key)))
    return {row.key: row.value for row in rows.all()}


def check_deep_link_payload(payload: str) -> str:
    if not DEEP_LINK_PAYLOAD.fullmatch(payload):
        raise ValueError(f"deep-link payload {payload!r}: 1 to 64 characters of A-Z a-z 0-9 _ -")
    return payload


async def set_deep_link(
    session: AsyncSession,
    payload: str,
    flow_id: str,
    *,
    source: str | None = None,
    now: datetime | None = None,
) -> DeepLink:
    """Create or repoint a deep link; the payload must be a valid Telegram start parameter."""
    check_deep_link_payload(payload)
    stmt = upsert_insert(session, DeepLink).values(
        payload=payload, flow_id=flow_id, source=source, created_at=now_or(now)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["payload"], set_={"flow_id": flow_id, "source": source}
    )
    await session.exec(stmt)
    link = await session.get(DeepLink, payload, populate_existing=True)
    assert link is not None
    return link


async def get_deep_link(session: AsyncSession, payload: str) -> DeepLink | None:
    return await session.get(DeepLink, payload, populate_existing=True)


async def list_deep_links(session: AsyncSession) -> list[DeepLink]:
    return list((await session.exec(select(DeepLink).order_by(col(DeepLink.payload)))).all())


async def delete_deep_link(session: AsyncSession, payload: str) -> bool:
    result = await session.exec(delete(DeepLink).where(col(DeepLink.payload) == payload))
    return result.rowcount == 1
