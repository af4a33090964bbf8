"""Quorum reviews (issue 13: tickets.review and .amendments; how examples and pairs were decided) and
applications' Idempotency-Keys (issue 16: the idempotency_keys table). New tables and nullable columns
only: rows written before stay valid.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("review", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("amendments", sa.JSON(), nullable=True))
    with op.batch_alter_table("examples") as batch_op:
        batch_op.add_column(sa.Column("reviewer_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("agreement", sa.Float(), nullable=True))
    with op.batch_alter_table("preference_pairs") as batch_op:
        batch_op.add_column(sa.Column("reviewer_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("preference_pairs") as batch_op:
        batch_op.drop_column("decided_by")
        batch_op.drop_column("reviewer_count")
    with op.batch_alter_table("examples") as batch_op:
        batch_op.drop_column("agreement")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("reviewer_count")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("amendments")
        batch_op.drop_column("review")
    op.drop_table("idempotency_keys")
