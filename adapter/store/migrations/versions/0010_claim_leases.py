"""Claims with an owner and a lease; named leases (one feedback poller at a time).

``submissions.claimed_by`` names the replica that claimed a ``submitting`` row and
``lease_until`` how long that claim holds unless renewed: a live replica recovers
a claim whose lease ran out (``adapter.store.leases``) and never touches a live
one. ``leases`` holds named leases with one holder at a time
and an ``epoch`` that grows with every change of holder (a fencing token).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("submissions", sa.Column("claimed_by", sa.String(64), nullable=True))
    op.add_column("submissions", sa.Column("lease_until", sa.DateTime(timezone=True),
                                           nullable=True))
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_column("submissions", "lease_until")
    op.drop_column("submissions", "claimed_by")
