"""imaging: studies, series, instances (originals in clinical_files)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import telebridge.kit.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

When = telebridge.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "imaging_studies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("context_type", sa.String(32), nullable=True),
        sa.Column("context_id", sa.Uuid(), nullable=True),
        sa.Column("study_uid", sa.String(64), nullable=False),
        sa.Column("accession_number", sa.String(64), nullable=True),
        sa.Column("study_date", sa.Date(), nullable=True),
        sa.Column("study_description", sa.String(200), nullable=True),
        sa.Column("modalities", sa.String(64), nullable=False),
        sa.Column("dicom_patient_name", sa.String(200), nullable=True),
        sa.Column("dicom_patient_id", sa.String(64), nullable=True),
        sa.Column("dicom_birth_date", sa.Date(), nullable=True),
        sa.Column("dicom_sex", sa.String(16), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_imaging_studies_patient_id_patients")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_imaging_studies_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imaging_studies")),
        sa.UniqueConstraint("patient_id", "study_uid", name="uq_imaging_studies_patient_study"),
    )
    op.create_index(op.f("ix_imaging_studies_patient_id"), "imaging_studies", ["patient_id"])
    op.create_index(op.f("ix_imaging_studies_study_uid"), "imaging_studies", ["study_uid"])
    op.create_index("ix_imaging_studies_context", "imaging_studies", ["context_type", "context_id"])
    op.create_table(
        "imaging_series",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("series_uid", sa.String(64), nullable=False),
        sa.Column("modality", sa.String(16), nullable=True),
        sa.Column("series_number", sa.Integer(), nullable=True),
        sa.Column("series_description", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["study_id"], ["imaging_studies.id"], ondelete="CASCADE",
                                name=op.f("fk_imaging_series_study_id_imaging_studies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imaging_series")),
        sa.UniqueConstraint("study_id", "series_uid", name="uq_imaging_series_study_series"),
    )
    op.create_index(op.f("ix_imaging_series_study_id"), "imaging_series", ["study_id"])
    op.create_table(
        "imaging_instances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("series_id", sa.Uuid(), nullable=False),
        sa.Column("sop_uid", sa.String(64), nullable=False),
        sa.Column("sop_class_uid", sa.String(64), nullable=False),
        sa.Column("transfer_syntax_uid", sa.String(64), nullable=False),
        sa.Column("instance_number", sa.Integer(), nullable=True),
        sa.Column("number_of_frames", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("columns", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["series_id"], ["imaging_series.id"], ondelete="CASCADE",
                                name=op.f("fk_imaging_instances_series_id_imaging_series")),
        sa.ForeignKeyConstraint(["file_id"], ["clinical_files.id"],
                                name=op.f("fk_imaging_instances_file_id_clinical_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imaging_instances")),
        sa.UniqueConstraint("series_id", "sop_uid", name="uq_imaging_instances_series_sop"),
    )
    op.create_index(op.f("ix_imaging_instances_series_id"), "imaging_instances", ["series_id"])
    op.create_index(op.f("ix_imaging_instances_sop_uid"), "imaging_instances", ["sop_uid"])
    op.create_index(op.f("ix_imaging_instances_file_id"), "imaging_instances", ["file_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_imaging_instances_file_id"), table_name="imaging_instances")
    op.drop_index(op.f("ix_imaging_instances_sop_uid"), table_name="imaging_instances")
    op.drop_index(op.f("ix_imaging_instances_series_id"), table_name="imaging_instances")
    op.drop_table("imaging_instances")
    op.drop_index(op.f("ix_imaging_series_study_id"), table_name="imaging_series")
    op.drop_table("imaging_series")
    op.drop_index("ix_imaging_studies_context", table_name="imaging_studies")
    op.drop_index(op.f("ix_imaging_studies_study_uid"), table_name="imaging_studies")
    op.drop_index(op.f("ix_imaging_studies_patient_id"), table_name="imaging_studies")
    op.drop_table("imaging_studies")
