"""Alembic environment for Qualibot's storage.

Three ways in:
- `storage.migrate` (the bot, `python -m bot db upgrade`, tests) passes an open
  sync connection in `config.attributes["connection"]`;
- the alembic command line (`alembic -c storage/alembic.ini ...`, for writing new
  revisions) takes the URL from `-x url=...`, else DATABASE_URL, else the default
  SQLite file;
- offline mode (`--sql`) renders SQL for that URL's dialect.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.database import Database, default_database_url, normalize_url
from storage.timestamps import UTCDateTime

config = context.config
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)  # the CLI only
target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations must not import application types: render ours as what it stores.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


CONTEXT_OPTIONS: dict[str, Any] = {
    "target_metadata": target_metadata,
    # Batch mode recreates tables on SQLite, which cannot ALTER most things; on
    # PostgreSQL the same script emits plain ALTERs, so one script serves both.
    "render_as_batch": True,
    "compare_type": True,
    "render_item": _render_item,
}


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    return str(url or os.environ.get("DATABASE_URL") or default_database_url())


def run_offline() -> None:
    url = normalize_url(_url())
    context.configure(url=url, literal_binds=True, **CONTEXT_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_on_connection(connection: Connection) -> None:
    context.configure(connection=connection, **CONTEXT_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine() -> None:
    db = Database(_url(), poolclass=pool.NullPool)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(run_on_connection)
    finally:
        await db.dispose()


if context.is_offline_mode():
    run_offline()
elif (conn := config.attributes.get("connection")) is not None:
    run_on_connection(conn)
else:
    asyncio.run(run_with_own_engine())
