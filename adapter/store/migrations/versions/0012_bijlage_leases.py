"""Attachments being sent carry an owner and a lease, as claimed submissions do (0010).

``bijlagen.claimed_by`` names the replica sending a ``sending`` row and
``lease_until`` how long that holds unless renewed. Before, every replica that
started moved every ``sending`` row to ``unknown``, a live replica's too, and a row
of a replica that died stayed ``sending`` until some replica started again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bijlagen", sa.Column("claimed_by", sa.String(64), nullable=True))
    op.add_column("bijlagen", sa.Column("lease_until", sa.DateTime(timezone=True),
                                        nullable=True))


def downgrade() -> None:
    op.drop_column("bijlagen", "lease_until")
    op.drop_column("bijlagen", "claimed_by")
