"""Indexes that keep a large backlog's per-call cost flat.

- ``submissions (state, id)`` replaces ``(state, next_attempt_at)``. The claim takes
  the oldest due rows of a state in id order: with the old index the database read
  every due row of the state and sorted them for each claim (a claim cost grew with
  the backlog: 0.2 s at 43,000 pending rows); this one hands them out in id order,
  so a claim reads about as many rows as it takes.
- ``reports (updated_at)`` and ``registraties (updated_at)``: the signaler asks every
  few seconds what changed since its last round; without them each round read both
  tables whole.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_submissions_state_due", table_name="submissions")
    op.create_index("ix_submissions_state_id", "submissions", ["state", "id"])
    op.create_index("ix_reports_updated_at", "reports", ["updated_at"])
    op.create_index("ix_registraties_updated_at", "registraties", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_registraties_updated_at", table_name="registraties")
    op.drop_index("ix_reports_updated_at", table_name="reports")
    op.drop_index("ix_submissions_state_id", table_name="submissions")
    op.create_index("ix_submissions_state_due", "submissions", ["state", "next_attempt_at"])
