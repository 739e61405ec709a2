"""Attachments (bijlagen): files a SIS sends with a report, kept until DUO has them.

One row per accepted file (``message_id`` unique: a redelivered message stores
nothing twice), with its report, name, type by content, size, SHA-256, the
content itself and the business-document id it is sent with on every attempt.
See ``adapter.store.bijlagen``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "bijlagen",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("bestandsnaam", sa.String(200), nullable=False),
        sa.Column("mime_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", ts, nullable=False),
        sa.Column("bijlage_id", sa.String(60)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
    )
    op.create_index("ix_bijlagen_report_id", "bijlagen", ["report_id"])
    op.create_index("ix_bijlagen_state_due", "bijlagen", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_bijlagen_state_due", table_name="bijlagen")
    op.drop_index("ix_bijlagen_report_id", table_name="bijlagen")
    op.drop_table("bijlagen")
