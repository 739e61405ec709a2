"""Reports are found by school and student with one index: ``(vendor, brin, student_key)``.

The signaler, the registrations' intake and retention read a school's reports of
some students (``vendor = ? AND brin = ? AND student_key IN (…)``). With only
``student_key`` indexed, SQLite's planner took the business key's index
(``vendor, brin, source_id``) for its two equalities and read every report of the
school to find those students: each statement cost grew with the school's reports,
and the signaler's cost per report with the backlog (3.1 ms per report through a
backlog of 100,000). The new index serves those statements on both databases and
replaces the single-column one: every statement that names a report's student
also names its school.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reports_student", "reports", ["vendor", "brin", "student_key"])
    op.drop_index("ix_reports_student_key", table_name="reports")


def downgrade() -> None:
    op.create_index("ix_reports_student_key", "reports", ["student_key"])
    op.drop_index("ix_reports_student", table_name="reports")
