"""clinical files: encrypted blobs, files, resumable uploads

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import telebridge.kit.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = telebridge.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "file_blobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", Big, nullable=False),
        sa.Column("object_key", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("shredded_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_blobs")),
        sa.UniqueConstraint("sha256", name=op.f("uq_file_blobs_sha256")),
    )
    op.create_index(op.f("ix_file_blobs_key_id"), "file_blobs", ["key_id"])
    op.create_table(
        "clinical_files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("context_type", sa.String(32), nullable=True),
        sa.Column("context_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", Big, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("retention_until", sa.Date(), nullable=False),
        sa.Column("preview_status", sa.String(16), nullable=False),
        sa.Column("preview_blob_id", sa.Uuid(), nullable=True),
        sa.Column("destroyed_at", When, nullable=True),
        sa.Column("destroyed_batch", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_clinical_files_patient_id_patients")),
        sa.ForeignKeyConstraint(["blob_id"], ["file_blobs.id"], name=op.f("fk_clinical_files_blob_id_file_blobs")),
        sa.ForeignKeyConstraint(["preview_blob_id"], ["file_blobs.id"],
                                name=op.f("fk_clinical_files_preview_blob_id_file_blobs")),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_clinical_files_uploaded_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinical_files")),
    )
    op.create_index(op.f("ix_clinical_files_patient_id"), "clinical_files", ["patient_id"])
    op.create_index(op.f("ix_clinical_files_blob_id"), "clinical_files", ["blob_id"])
    op.create_index(op.f("ix_clinical_files_retention_until"), "clinical_files", ["retention_until"])
    op.create_index("ix_clinical_files_context", "clinical_files", ["context_type", "context_id"])
    op.create_table(
        "file_uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("context_type", sa.String(32), nullable=True),
        sa.Column("context_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("declared_type", sa.String(100), nullable=True),
        sa.Column("length", Big, nullable=False),
        sa.Column("offset", Big, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("spool_key", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("file_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_file_uploads_user_id_users")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_file_uploads_patient_id_patients")),
        sa.ForeignKeyConstraint(["file_id"], ["clinical_files.id"], name=op.f("fk_file_uploads_file_id_clinical_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_uploads")),
    )
    op.create_index(op.f("ix_file_uploads_user_id"), "file_uploads", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_file_uploads_user_id"), table_name="file_uploads")
    op.drop_table("file_uploads")
    op.drop_index("ix_clinical_files_context", table_name="clinical_files")
    op.drop_index(op.f("ix_clinical_files_retention_until"), table_name="clinical_files")
    op.drop_index(op.f("ix_clinical_files_blob_id"), table_name="clinical_files")
    op.drop_index(op.f("ix_clinical_files_patient_id"), table_name="clinical_files")
    op.drop_table("clinical_files")
    op.drop_index(op.f("ix_file_blobs_key_id"), table_name="file_blobs")
    op.drop_table("file_blobs")
