"""Baseline: the ledger's schema as tacit shipped it before migrations (commit 6d2a36d).

A database that `Base.metadata.create_all` made then (no alembic_version table) is checked against
BASELINE and stamped with this revision instead of running it (pipelines/ledger/migrations/__init__.py).
Frozen: never edit; change the schema in a new revision.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BASELINE = sa.MetaData()

sa.Table(
    "audit_events",
    BASELINE,
    sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(length=200), nullable=False),
    sa.Column("action", sa.String(length=64), nullable=False),
    sa.Column("subject_type", sa.String(length=32), nullable=False),
    sa.Column("subject_id", sa.String(length=200), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("prev_hash", sa.String(length=64), nullable=False),
    sa.Column("hash", sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint("seq"),
)

sa.Table(
    "audit_head",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("hash", sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint("id"),
)

sa.Table(
    "example_store_writes",
    BASELINE,
    sa.Column("example_id", sa.String(length=64), nullable=False),
    sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("example_id"),
)

sa.Table(
    "ledger_meta",
    BASELINE,
    sa.Column("key", sa.String(length=64), nullable=False),
    sa.Column("value", sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint("key"),
)

sa.Table(
    "sync_cursors",
    BASELINE,
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("name"),
)

sa.Table(
    "tickets",
    BASELINE,
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("task", sa.String(length=200), nullable=False),
    sa.Column("request", sa.JSON(), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("argilla_dataset", sa.String(length=200), nullable=False),
    sa.Column("argilla_record_id", sa.String(length=64), nullable=True),
    sa.Column("decision", sa.JSON(), nullable=True),
    sa.Column("decided_by", sa.String(length=200), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_version", sa.String(length=200), nullable=True),
    sa.CheckConstraint("kind IN ('review', 'approval', 'escalation', 'preference')", name="ck_kind_allowed"),
    sa.CheckConstraint("status IN ('queued', 'open', 'decided', 'failed')", name="ck_status_allowed"),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_tickets_record", "argilla_dataset", "argilla_record_id"),
    sa.Index("ix_tickets_status", "status"),
)

sa.Table(
    "feedback_items",
    BASELINE,
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("ticket_id", sa.String(length=32), nullable=True),
    sa.Column("argilla_dataset", sa.String(length=200), nullable=False),
    sa.Column("record_id", sa.String(length=64), nullable=False),
    sa.Column("response_id", sa.String(length=64), nullable=True),
    sa.Column("user_id", sa.String(length=64), nullable=False),
    sa.Column("username", sa.String(length=200), nullable=True),
    sa.Column("status", sa.String(length=32), nullable=False),
    sa.Column("values", sa.JSON(), nullable=False),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("model_version", sa.String(length=200), nullable=True),
    sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_feedback_record", "argilla_dataset", "record_id"),
)

sa.Table(
    "outbox",
    BASELINE,
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("ticket_id", sa.String(length=32), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),
)

sa.Table(
    "examples",
    BASELINE,
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("feedback_id", sa.String(length=32), nullable=True),
    sa.Column("task", sa.String(length=200), nullable=False),
    sa.Column("domain", sa.String(length=200), nullable=True),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("input", sa.Text(), nullable=False),
    sa.Column("output", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("quality", sa.Float(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_version", sa.String(length=200), nullable=True),
    sa.Column("provenance", sa.JSON(), nullable=False),
    sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("withdrawn_reason", sa.Text(), nullable=True),
    sa.CheckConstraint(
        "kind IN ('correction', 'accepted', 'lesson', 'resolution', 'knowledge')", name="ck_kind_allowed"
    ),
    sa.ForeignKeyConstraint(["feedback_id"], ["feedback_items.id"]),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_examples_feedback", "feedback_id"),
    sa.Index("ix_examples_updated", "updated_at"),
)

sa.Table(
    "preference_pairs",
    BASELINE,
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("feedback_id", sa.String(length=32), nullable=True),
    sa.Column("task", sa.String(length=200), nullable=False),
    sa.Column("prompt", sa.Text(), nullable=False),
    sa.Column("chosen", sa.Text(), nullable=False),
    sa.Column("rejected", sa.Text(), nullable=False),
    sa.Column("annotator", sa.String(length=200), nullable=True),
    sa.Column("agreement", sa.Float(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("provenance", sa.JSON(), nullable=False),
    sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("withdrawn_reason", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["feedback_id"], ["feedback_items.id"]),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_pairs_feedback", "feedback_id"),
    sa.Index("ix_pairs_task", "task"),
    sa.Index("ix_pairs_updated", "updated_at"),
)

def upgrade() -> None:
    BASELINE.create_all(op.get_bind())


def downgrade() -> None:
    BASELINE.drop_all(op.get_bind())
