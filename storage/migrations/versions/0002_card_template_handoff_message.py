"""Card templates (issue 5: the sales card can be replaced) and handoff messages
(every message of a lead's thread in the sales chat, for the relay).

Existing cards are copied into handoff_message, so replies to cards sent before
this migration keep working.

Revision ID: 0002_card_template
Revises: 0001
Create Date: 2026-11-30 12:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_card_template"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "card_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_template")),
        sa.UniqueConstraint("version", name=op.f("uq_card_template_version")),
    )
    op.create_index(
        "uq_card_template_active",
        "card_template",
        ["active"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "handoff_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["handoff_id"], ["handoff.id"], name=op.f("fk_handoff_message_handoff_id_handoff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_message")),
        sa.UniqueConstraint(
            "chat_id", "message_id", name=op.f("uq_handoff_message_chat_id_message_id")
        ),
    )
    op.create_index(
        op.f("ix_handoff_message_handoff_id"), "handoff_message", ["handoff_id"], unique=False
    )
    op.execute(
        "INSERT INTO handoff_message (handoff_id, chat_id, message_id, kind, created_at) "
        "SELECT id, chat_id, message_id, 'card', updated_at FROM handoff "
        "WHERE message_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_handoff_message_handoff_id"), table_name="handoff_message")
    op.drop_table("handoff_message")
    op.drop_index("uq_card_template_active", table_name="card_template")
    op.drop_table("card_template")
