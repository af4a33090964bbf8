"""Webhook delivery ids kept in the ledger (issue 25): the replay guard of `coordination.backend: local`
survives a restart of the API. A new table only: rows written before stay valid.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_webhook_deliveries_seen", "webhook_deliveries", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_seen", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
