"""Reports DUO forgot in its schoning: ``reports.duo_purged_at``.

DUO purges its register every year; a ``wijzigen``/``intrekken`` of such a report
is answered VZ901 (unknown report). The adapter keeps the report and its evidence
and records when DUO said so (``adapter.store.lifecycle.mark_rejected``); retention
(``adapter.store.retention``) treats such a report as past DUO's horizon.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("duo_purged_at", sa.DateTime(timezone=True),
                                       nullable=True))


def downgrade() -> None:
    op.drop_column("reports", "duo_purged_at")
