"""auscultation screening: exams, recordings, cardiologist verdicts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import telebridge.kit.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = telebridge.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auscultation_exams",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("requesting_facility_id", sa.Uuid(), nullable=False),
        sa.Column("hub_facility_id", sa.Uuid(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("murmur", sa.String(length=8), nullable=True),
        sa.Column("probability_present", sa.Float(), nullable=True),
        sa.Column("timing", sa.String(length=12), nullable=True),
        sa.Column("sites", sa.String(length=40), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("analysed_at", _TS, nullable=True),
        sa.Column("flagged_at", _TS, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_auscultation_exams_created_by_users")),
        sa.ForeignKeyConstraint(["hub_facility_id"], ["facilities.id"],
                                name=op.f("fk_auscultation_exams_hub_facility_id_facilities")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_auscultation_exams_patient_id_patients")),
        sa.ForeignKeyConstraint(["requesting_facility_id"], ["facilities.id"],
                                name=op.f("fk_auscultation_exams_requesting_facility_id_facilities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auscultation_exams")),
    )
    with op.batch_alter_table("auscultation_exams") as batch:
        batch.create_index("ix_auscultation_exams_hub_status", ["hub_facility_id", "status"], unique=False)
        batch.create_index(batch.f("ix_auscultation_exams_hub_facility_id"), ["hub_facility_id"], unique=False)
        batch.create_index(batch.f("ix_auscultation_exams_patient_id"), ["patient_id"], unique=False)
        batch.create_index(batch.f("ix_auscultation_exams_requesting_facility_id"), ["requesting_facility_id"],
                           unique=False)

    op.create_table(
        "auscultation_recordings",
        sa.Column("exam_id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(length=8), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("quality_ok", sa.Boolean(), nullable=False),
        sa.Column("quality_code", sa.String(length=16), nullable=False),
        sa.Column("periodicity", sa.Float(), nullable=False),
        sa.Column("heart_rate_bpm", sa.Float(), nullable=True),
        sa.Column("murmur", sa.String(length=8), nullable=False),
        sa.Column("probability_present", sa.Float(), nullable=False),
        sa.Column("timing", sa.String(length=12), nullable=True),
        sa.Column("segments", sa.Text(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_auscultation_recordings_created_by_users")),
        sa.ForeignKeyConstraint(["exam_id"], ["auscultation_exams.id"],
                                name=op.f("fk_auscultation_recordings_exam_id_auscultation_exams"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["file_id"], ["clinical_files.id"],
                                name=op.f("fk_auscultation_recordings_file_id_clinical_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auscultation_recordings")),
    )
    with op.batch_alter_table("auscultation_recordings") as batch:
        batch.create_index(batch.f("ix_auscultation_recordings_exam_id"), ["exam_id"], unique=False)

    op.create_table(
        "auscultation_verdicts",
        sa.Column("exam_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=True),
        sa.Column("murmur", sa.String(length=8), nullable=False),
        sa.Column("agrees", sa.Boolean(), nullable=False),
        sa.Column("algorithm_murmur", sa.String(length=8), nullable=True),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("timing", sa.String(length=12), nullable=True),
        sa.Column("advice", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["exam_id"], ["auscultation_exams.id"],
                                name=op.f("fk_auscultation_verdicts_exam_id_auscultation_exams"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["practitioner_id"], ["practitioners.id"],
                                name=op.f("fk_auscultation_verdicts_practitioner_id_practitioners")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_auscultation_verdicts_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auscultation_verdicts")),
    )
    with op.batch_alter_table("auscultation_verdicts") as batch:
        batch.create_index(batch.f("ix_auscultation_verdicts_exam_id"), ["exam_id"], unique=False)


def downgrade() -> None:
    op.drop_table("auscultation_verdicts")
    op.drop_table("auscultation_recordings")
    op.drop_table("auscultation_exams")
