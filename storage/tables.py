"""The tables (sqlmodel). docs/ARCHITECTURE.md, "storage: tables", is the contract.

Conventions:
- Telegram ids (users, chats, messages) are BigInteger: group chat ids such as
  -1001234567890 overflow a 32-bit integer on PostgreSQL.
- Every timestamp is `UTCDateTime`: aware UTC in, aware UTC out, on both backends.
- Statuses are plain strings (see the *_STATUSES tuples), not database enums, so a
  new status needs no migration.
- JSON only for the outbox payload; answers and signals are rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.timestamps import UTCDateTime, utcnow

# Named constraints: alembic needs names to alter or drop them later (and SQLite's
# batch mode needs them to recreate a table).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

INTERVIEW_STATUSES = ("active", "finished", "cancelled", "out")
HANDOFF_STATUSES = ("open", "taken", "qualified", "rejected", "closed")
OUTBOX_STATUSES = ("pending", "sending", "sent", "dead", "cancelled")
TIMER_STATUSES = ("pending", "claimed", "fired", "cancelled", "dead")


def _ts(*, index: bool = False, nullable: bool = False) -> Any:
    """A timestamp column; required ones default to the time of the insert."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime(), index=index, nullable=True)
    return Field(default_factory=utcnow, sa_type=UTCDateTime(), index=index, nullable=False)


def _bigint(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None if nullable else ..., sa_type=BigInteger(), nullable=nullable, index=index
    )


class Lead(SQLModel, table=True):
    __tablename__ = "lead"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=BigInteger(), unique=True, index=True, nullable=False)
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    source: str | None = None
    company: str | None = None
    phone: str | None = None
    email: str | None = None
    opted_out: bool = False
    blocked: bool = False  # the prospect blocked the bot (403 on send)
    forgotten: bool = False  # personal data erased on request; numbers kept
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class FlowVersion(SQLModel, table=True):
    __tablename__ = "flow_version"
    __table_args__ = (
        UniqueConstraint("flow_id", "version"),
        # At most one live version per flow, enforced by the database as a backstop.
        Index(
            "uq_flow_version_active_flow",
            "flow_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    flow_id: str = Field(index=True)
    version: int
    digest: str  # sha256 of `source`, as CompiledFlow.digest
    source: str = Field(sa_type=Text())
    created_by: str | None = None
    created_at: datetime = _ts()
    active: bool = False
    activated_at: datetime | None = _ts(nullable=True)


class Interview(SQLModel, table=True):
    __tablename__ = "interview"
    __table_args__ = (
        # One active interview per lead. The repository keeps it so (it cancels the
        # old one when starting a new one, under a lock); this index makes any
        # code path that forgets fail loudly instead of forking the conversation.
        Index(
            "uq_interview_active_lead",
            "lead_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_interview_flow_started", "flow_id", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    flow_id: str
    flow_version_id: int | None = Field(default=None, foreign_key="flow_version.id", index=True)
    digest: str  # of the flow version the interview runs; a live chat keeps its version
    lang: str
    state: str  # current question id, or "done" / "out"
    misses: int = 0
    status: str = Field(default="active", index=True)
    tier: str | None = None  # hot | warm | cold | disqualified
    stage: str | None = None  # MQL | SAL | SQL | out
    framework_score: int | None = None
    max_score: int | None = None
    percent: float | None = None
    fit_score: int | None = None
    engagement_score: int | None = None
    fast_tracked: bool = False
    knockout: str | None = None
    source: str | None = None
    started_at: datetime = _ts()
    updated_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)
    last_message_id: int | None = _bigint()
    # Bumped by every saved step: a writer holding an old copy can detect that
    # another process moved the interview on (optimistic concurrency).
    rev: int = 0


class Answer(SQLModel, table=True):
    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("interview_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id")
    seq: int  # 1, 2, ... in the order given; superseded rows keep their number
    question_id: str
    parameter: str | None = None
    raw: str | None = Field(default=None, sa_type=Text())
    # Matched option ids joined by OPTION_SEP: a list of identifiers is not a payload.
    option_ids: str = ""
    value: str | None = Field(default=None, sa_type=Text())
    points: int = 0
    unknown: bool = False
    reason: str | None = None
    superseded: bool = False  # undone by Back or replaced by a correction
    created_at: datetime = _ts()

    @property
    def options(self) -> tuple[str, ...]:
        return split_option_ids(self.option_ids)


OPTION_SEP = ","


def join_option_ids(ids: tuple[str, ...] | list[str]) -> str:
    for option_id in ids:
        if OPTION_SEP in option_id:
            raise ValueError(f"option id {option_id!r} contains {OPTION_SEP!r}")
    return OPTION_SEP.join(ids)


def split_option_ids(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(OPTION_SEP)) if joined else ()


class Signal(SQLModel, table=True):
    __tablename__ = "signal"

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    kind: str  # intent | event
    name: str
    points: int = 0
    raw: str | None = Field(default=None, sa_type=Text())
    created_at: datetime = _ts()


class Handoff(SQLModel, table=True):
    __tablename__ = "handoff"
    __table_args__ = (Index("ix_handoff_chat_message", "chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    chat_id: int = _bigint(nullable=False)
    message_id: int | None = _bigint()  # the card in the sales chat, once sent
    taken_by: int | None = _bigint()
    taken_by_name: str | None = None
    status: str = "open"
    created_at: datetime = _ts()
    taken_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class HandoffMessage(SQLModel, table=True):
    """Every message of a lead's thread in the sales chat: the card (and the card
    raised again by the SLA timer), the prospect's relayed messages and the
    salesperson's relayed replies. A reply to any bot message here finds the
    handoff, so the relay keeps working from the original card after a re-raise.
    Relayed rows carry the update id that caused them (written with the
    processed-update mark, before sending)."""

    __tablename__ = "handoff_message"
    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoff.id", index=True)
    chat_id: int = _bigint(nullable=False)
    message_id: int | None = _bigint()  # None until a relayed copy is sent
    kind: str  # card | from_prospect | from_sales
    update_id: int | None = _bigint()
    created_at: datetime = _ts()


class CardTemplate(SQLModel, table=True):
    """Uploaded sales card templates (Jinja2, Telegram HTML), numbered 1, 2, ...
    At most one is active; none active means the built-in bot/templates/card.html.j2."""

    __tablename__ = "card_template"
    __table_args__ = (
        Index(
            "uq_card_template_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    digest: str  # sha256 of `source`
    source: str = Field(sa_type=Text())
    filename: str | None = None
    created_by: str | None = None
    created_at: datetime = _ts()
    active: bool = False
    activated_at: datetime | None = _ts(nullable=True)


class StageChange(SQLModel, table=True):
    __tablename__ = "stage_change"

    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id", index=True)
    from_stage: str | None = None
    to_stage: str | None = None
    by_user: int | None = _bigint()  # Telegram id; None for the bot itself
    by_name: str | None = None
    reason: str | None = None
    at: datetime = _ts()


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_not_before", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # what the sender should do, e.g. "card", "message"
    chat_id: int = _bigint(nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dedup_key: str | None = Field(default=None, unique=True)
    status: str = "pending"
    attempts: int = 0  # counted when claimed, so a message that crashes workers dies
    not_before: datetime | None = _ts(nullable=True)  # None: as soon as possible
    lease_until: datetime | None = _ts(nullable=True)
    claimed_by: str | None = None
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)  # for forget
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    message_id: int | None = _bigint()
    error: str | None = Field(default=None, sa_type=Text())


class ProcessedUpdate(SQLModel, table=True):
    __tablename__ = "processed_update"

    update_id: int = Field(
        sa_type=BigInteger(), primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    at: datetime = _ts(index=True)


class Timer(SQLModel, table=True):
    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_status_due_at", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # e.g. "followup", "idle"
    interview_id: int | None = Field(default=None, foreign_key="interview.id", index=True)
    due_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    status: str = "pending"
    attempts: int = 0
    lease_until: datetime | None = _ts(nullable=True)
    claimed_by: str | None = None
    fired_at: datetime | None = _ts(nullable=True)
    dedup_key: str | None = Field(default=None, unique=True)
    created_at: datetime = _ts()


class Audit(SQLModel, table=True):
    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    who: str  # a name, "cli" or "system"
    who_id: int | None = _bigint()  # Telegram id when a person did it
    what: str = Field(index=True)  # e.g. "flow.activate", "lead.forget"
    subject: str | None = None  # e.g. "bant" or "lead:12"
    from_value: str | None = Field(default=None, sa_type=Text())
    to_value: str | None = Field(default=None, sa_type=Text())
    at: datetime = _ts(index=True)


class Setting(SQLModel, table=True):
    __tablename__ = "setting"

    key: str = Field(primary_key=True)
    value: str = Field(sa_type=Text())
    updated_at: datetime = _ts()


class DeepLink(SQLModel, table=True):
    __tablename__ = "deep_link"

    payload: str = Field(primary_key=True, max_length=64)  # t.me/bot?start=<payload>
    flow_id: str
    source: str | None = None
    created_at: datetime = _ts()


class RateSlot(SQLModel, table=True):
    """A send budget shared by every bot process (storage/rate_slots.py), e.g. the
    sales group's one message every 3 s: when the next message may go out."""

    __tablename__ = "rate_slot"

    key: str = Field(primary_key=True)  # e.g. "group:-1001234567890"
    # Seconds since the epoch, on the clock of whoever claims it (the database's by
    # default): a float keeps the arithmetic identical in SQLite and PostgreSQL.
    next_at: float = Field(sa_type=Float(), nullable=False)


ALL_TABLES: tuple[type[SQLModel], ...] = (
    Lead,
    FlowVersion,
    Interview,
    Answer,
    Signal,
    Handoff,
    HandoffMessage,
    CardTemplate,
    StageChange,
    Outbox,
    ProcessedUpdate,
    Timer,
    Audit,
    Setting,
    DeepLink,
    RateSlot,
)
