"""Signals: situations the school's registrations call for, raised once each.

One row per (vendor, BRIN, student key, situation); ``state`` is ``open`` while
the rules still see the situation and ``closed`` once they do not (a report now
covers it, a registration was withdrawn). See ``adapter.store.signals``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("brin", sa.String(16), nullable=False),
        sa.Column("student_key", sa.String(64), nullable=False),
        sa.Column("signaal", sa.String(32), nullable=False),
        sa.Column("situation", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("vendor", "brin", "student_key", "situation",
                            name="uq_signals_situation"),
    )
    op.create_index("ix_signals_state", "signals", ["state", "signaal"])


def downgrade() -> None:
    op.drop_index("ix_signals_state", table_name="signals")
    op.drop_table("signals")
