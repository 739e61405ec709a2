"""Reports DUO told us about that the adapter never sent, and one key per SIS student.

``reports.origin``: ``adapter`` (sent by us; every existing row) or ``web`` (typed
into DUO's web counter by the school, learnt from the changed-reports feed).

``student_aliases``: the student key first used for a SIS student number
(``leerlingnummer``, stored only as a hash) at a vendor and BRIN, so a student
whose onderwijsnummer is later replaced by a BSN keeps one key.

Revision ID: 0006
Revises: 0004 (re-point to 0005 when that revision is merged first)
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (SQLite needs no table copy for it).
    op.add_column("reports", sa.Column("origin", sa.String(8), nullable=False,
                                       server_default="adapter"))
    op.create_table(
        "student_aliases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("brin", sa.String(16), nullable=False),
        sa.Column("leerling_key", sa.String(64), nullable=False),
        sa.Column("student_key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("vendor", "brin", "leerling_key", name="uq_student_aliases_key"),
    )


def downgrade() -> None:
    op.drop_table("student_aliases")
    # Web reports have no place in the older schema: forget them (their events stay sent).
    web = "(SELECT id FROM reports WHERE origin = 'web')"
    op.execute(f"DELETE FROM terugmeldingen WHERE report_id IN {web}")
    op.execute(f"DELETE FROM report_history WHERE report_id IN {web}")
    op.execute("DELETE FROM reports WHERE origin = 'web'")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of ``reports`` would
    # drop the table under the foreign keys of its children.
    op.execute("ALTER TABLE reports DROP COLUMN origin")
