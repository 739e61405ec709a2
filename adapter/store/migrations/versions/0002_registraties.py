"""Registrations (absence per school day) and the report record as received.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # The record as the SIS sent it; ``payload`` stays what is sent to DUO
    # (the record with the verzuimdagspecificatie merged from registrations).
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("record", sa.JSON, nullable=True))
    op.create_table(
        "registraties",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("brin", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("student_key", sa.String(64), nullable=False),
        sa.Column("datum", sa.Date, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        _ts("modified_at", nullable=True),
        _ts("received_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("vendor", "brin", "source_id", name="uq_registraties_business_key"),
    )
    op.create_index("ix_registraties_student_day", "registraties",
                    ["vendor", "brin", "student_key", "datum"])


def downgrade() -> None:
    op.drop_index("ix_registraties_student_day", table_name="registraties")
    op.drop_table("registraties")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("record")
