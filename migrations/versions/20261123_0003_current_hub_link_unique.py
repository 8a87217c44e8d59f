"""One *current* link per hub-spoke pair: an ended link no longer blocks renewing it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_links") as batch:
        batch.drop_constraint("uq_hub_links_pair", type_="unique")
    op.create_index(
        "uq_hub_links_current_pair", "hub_links", ["hub_id", "spoke_id"], unique=True,
        sqlite_where=sa.text("valid_to IS NULL"), postgresql_where=sa.text("valid_to IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_hub_links_current_pair", table_name="hub_links")
    with op.batch_alter_table("hub_links") as batch:
        batch.create_unique_constraint("uq_hub_links_pair", ["hub_id", "spoke_id"])
