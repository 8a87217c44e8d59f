"""live-session recordings (the media itself is kept as clinical files)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import telebridge.kit.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

When = telebridge.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "live_session_recordings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("live_session_id", sa.Uuid(), nullable=False),
        sa.Column("started_by", sa.Uuid(), nullable=False),
        sa.Column("started_at", When, nullable=False),
        sa.Column("stopped_at", When, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("feeds", sa.JSON(), nullable=True),
        sa.Column("file_ids", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["live_session_id"], ["live_sessions.id"],
                                name=op.f("fk_live_session_recordings_live_session_id_live_sessions")),
        sa.ForeignKeyConstraint(["started_by"], ["users.id"], name=op.f("fk_live_session_recordings_started_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_session_recordings")),
    )
    with op.batch_alter_table("live_session_recordings") as b:
        b.create_index(b.f("ix_live_session_recordings_live_session_id"), ["live_session_id"])


def downgrade() -> None:
    op.drop_table("live_session_recordings")
