"""live sessions: schedule, invited sites and people, attendance

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import telebridge.kit.db

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

When = telebridge.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("consultation_id", sa.Uuid(), nullable=False),
        sa.Column("host_facility_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("starts_at", When, nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["consultation_id"], ["consultations.id"], ondelete="CASCADE",
                                name=op.f("fk_live_sessions_consultation_id_consultations")),
        sa.ForeignKeyConstraint(["host_facility_id"], ["facilities.id"],
                                name=op.f("fk_live_sessions_host_facility_id_facilities")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_live_sessions_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_sessions")),
    )
    with op.batch_alter_table("live_sessions") as b:
        b.create_index(b.f("ix_live_sessions_consultation_id"), ["consultation_id"])
        b.create_index(b.f("ix_live_sessions_host_facility_id"), ["host_facility_id"])
        b.create_index(b.f("ix_live_sessions_starts_at"), ["starts_at"])
    op.create_table(
        "live_session_sites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("live_session_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["live_session_id"], ["live_sessions.id"], ondelete="CASCADE",
                                name=op.f("fk_live_session_sites_live_session_id_live_sessions")),
        sa.ForeignKeyConstraint(["facility_id"], ["facilities.id"],
                                name=op.f("fk_live_session_sites_facility_id_facilities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_session_sites")),
        sa.UniqueConstraint("live_session_id", "facility_id", name="uq_live_session_sites_site"),
    )
    with op.batch_alter_table("live_session_sites") as b:
        b.create_index(b.f("ix_live_session_sites_live_session_id"), ["live_session_id"])
        b.create_index(b.f("ix_live_session_sites_facility_id"), ["facility_id"])
    op.create_table(
        "live_session_invitees",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("live_session_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["live_session_id"], ["live_sessions.id"], ondelete="CASCADE",
                                name=op.f("fk_live_session_invitees_live_session_id_live_sessions")),
        sa.ForeignKeyConstraint(["facility_id"], ["facilities.id"],
                                name=op.f("fk_live_session_invitees_facility_id_facilities")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_live_session_invitees_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_session_invitees")),
        sa.UniqueConstraint("live_session_id", "user_id", name="uq_live_session_invitees_user"),
    )
    with op.batch_alter_table("live_session_invitees") as b:
        b.create_index(b.f("ix_live_session_invitees_live_session_id"), ["live_session_id"])
        b.create_index(b.f("ix_live_session_invitees_user_id"), ["user_id"])
    op.create_table(
        "live_session_attendance",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("live_session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=True),
        sa.Column("joined_at", When, nullable=False),
        sa.Column("left_at", When, nullable=True),
        sa.Column("quality", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["live_session_id"], ["live_sessions.id"], ondelete="CASCADE",
                                name=op.f("fk_live_session_attendance_live_session_id_live_sessions")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_live_session_attendance_user_id_users")),
        sa.ForeignKeyConstraint(["facility_id"], ["facilities.id"],
                                name=op.f("fk_live_session_attendance_facility_id_facilities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_session_attendance")),
    )
    with op.batch_alter_table("live_session_attendance") as b:
        b.create_index("ix_live_session_attendance_session_user", ["live_session_id", "user_id"])


def downgrade() -> None:
    op.drop_table("live_session_attendance")
    op.drop_table("live_session_invitees")
    op.drop_table("live_session_sites")
    op.drop_table("live_sessions")
