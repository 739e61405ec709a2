"""Initial schema: inbox, reports, history, submissions, exchanges, outbox, feedback.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("routing_key", sa.String(255), nullable=False),
        _ts("received_at"),
        sa.Column("items", sa.Integer, nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("brin", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("student_key", sa.String(64), nullable=False),
        sa.Column("verzuimsoort", sa.String(8), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("duo_status", sa.String(2)),
        sa.Column("meldingsnummer", sa.String(64)),
        _ts("laatste_mutatie", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("vendor", "brin", "source_id", name="uq_reports_business_key"),
    )
    op.create_index("ix_reports_student_key", "reports", ["student_key"])
    op.create_index("ix_reports_state", "reports", ["state"])
    op.create_index("ix_reports_meldingsnummer", "reports", ["meldingsnummer"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("student_key", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False, unique=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _ts("next_attempt_at"),
        sa.Column("last_error", sa.Text),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_submissions_report_id", "submissions", ["report_id"])
    op.create_index("ix_submissions_student_key", "submissions", ["student_key"])
    op.create_index("ix_submissions_state_due", "submissions", ["state", "next_attempt_at"])
    op.create_table(
        "report_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id")),
        _ts("at"),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16)),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(500)),
    )
    op.create_index("ix_report_history_report_id", "report_history", ["report_id"])
    op.create_table(
        "exchanges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id")),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(36)),
        sa.Column("message_id", sa.String(255)),
        sa.Column("request_xml", sa.LargeBinary, nullable=False),
        sa.Column("response_xml", sa.LargeBinary),
        sa.Column("http_status", sa.Integer),
        sa.Column("outcome", sa.String(64), nullable=False),
        _ts("started_at"),
        sa.Column("duration_ms", sa.Integer, nullable=False),
    )
    op.create_index("ix_exchanges_submission_id", "exchanges", ["submission_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("brin", sa.String(16), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(255)),
        sa.Column("data", sa.JSON, nullable=False),
        _ts("created_at"),
        _ts("published_at", nullable=True),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "id"])
    op.create_table(
        "terugmeldingen",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("meldingsnummer", sa.String(64), nullable=False),
        _ts("laatste_mutatie"),
        sa.Column("status", sa.String(2), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        _ts("received_at"),
        sa.UniqueConstraint("meldingsnummer", "laatste_mutatie",
                            name="uq_terugmeldingen_mutation"),
    )
    op.create_index("ix_terugmeldingen_report_id", "terugmeldingen", ["report_id"])
    op.create_table(
        "watermarks",
        sa.Column("name", sa.String(64), primary_key=True),
        _ts("value"),
    )


def downgrade() -> None:
    for table in ("watermarks", "terugmeldingen", "outbox", "exchanges", "report_history",
                  "submissions", "reports", "inbox_messages"):
        op.drop_table(table)
