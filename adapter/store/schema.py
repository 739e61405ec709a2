"""Table definitions (SQLAlchemy Core) shared by the store's queries.

The DDL itself lives in the Alembic migrations under ``migrations/versions``;
this module must describe the same schema (``tests/store`` compares them).
Every timestamp column is :class:`UTCDateTime`: timezone-aware UTC in Python on
both SQLite and PostgreSQL. The columns of personal data are encrypted at rest
(:mod:`adapter.store.crypto`; :data:`ENCRYPTED` lists them).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from adapter.store.crypto import EncryptedBytes, EncryptedJSON

metadata = sa.MetaData()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    Naive values given to the store are taken to be UTC already. SQLite keeps
    the UTC wall time as text (so ``<=`` on it orders correctly); PostgreSQL
    keeps ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


inbox_messages = sa.Table(
    "inbox_messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("vendor", sa.String(64), nullable=False),
    sa.Column("routing_key", sa.String(255), nullable=False),
    _ts("received_at"),
    sa.Column("items", sa.Integer, nullable=False),
)

reports = sa.Table(
    "reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("vendor", sa.String(64), nullable=False),
    sa.Column("brin", sa.String(16), nullable=False),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column("student_key", sa.String(64), nullable=False),
    sa.Column("verzuimsoort", sa.String(8), nullable=False),
    sa.Column("payload", EncryptedJSON(), nullable=False),
    sa.Column("record", EncryptedJSON()),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("duo_status", sa.String(2)),
    sa.Column("meldingsnummer", sa.String(64), index=True),
    _ts("laatste_mutatie", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    # ``adapter``: sent by us; ``web``: typed into DUO's web counter, learnt from feedback (0006).
    sa.Column("origin", sa.String(8), nullable=False, server_default="adapter"),
    # when DUO said it no longer knows the report (its schoning, VZ901); kept here (0008)
    _ts("duo_purged_at", nullable=True),
    sa.UniqueConstraint("vendor", "brin", "source_id", name="uq_reports_business_key"),
    sa.Index("ix_reports_updated_at", "updated_at"),        # the signaler's changes (0011)
    # A school's reports of some students (the signaler, intake, retention) (0014).
    sa.Index("ix_reports_student", "vendor", "brin", "student_key"),
)

registraties = sa.Table(
    "registraties", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("vendor", sa.String(64), nullable=False),
    sa.Column("brin", sa.String(16), nullable=False),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column("student_key", sa.String(64), nullable=False),
    sa.Column("datum", sa.Date, nullable=False),
    sa.Column("payload", EncryptedJSON(), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    _ts("modified_at", nullable=True),
    _ts("received_at"),
    _ts("updated_at"),
    # ``<id>`` of a registration split per day (``<id>@<date>``), else NULL (0003).
    sa.Column("base_id", sa.String(255)),
    sa.UniqueConstraint("vendor", "brin", "source_id", name="uq_registraties_business_key"),
    sa.Index("ix_registraties_student_day", "vendor", "brin", "student_key", "datum"),
    sa.Index("ix_registraties_base", "vendor", "brin", "base_id"),
    sa.Index("ix_registraties_updated_at", "updated_at"),   # the signaler's changes (0011)
)

submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False, index=True),
    sa.Column("student_key", sa.String(64), nullable=False, index=True),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("document_id", sa.String(36), nullable=False, unique=True),
    sa.Column("payload", EncryptedJSON(), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    _ts("next_attempt_at"),
    sa.Column("last_error", sa.Text),
    _ts("created_at"),
    _ts("updated_at"),
    # the replica holding a ``submitting`` row and until when (adapter.store.leases)
    sa.Column("claimed_by", sa.String(64)),
    _ts("lease_until", nullable=True),
    # The claim walks a state's rows in id order (0011); pending ones in an index of
    # their own, so no statistics can send it through the settled ones (0015).
    sa.Index("ix_submissions_state_id", "state", "id"),
    sa.Index("ix_submissions_pending", "id", postgresql_where=sa.text("state = 'pending'"),
             sqlite_where=sa.text("state = 'pending'")),
)

report_history = sa.Table(
    "report_history", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False, index=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id")),
    _ts("at"),
    sa.Column("from_state", sa.String(16)),
    sa.Column("to_state", sa.String(16)),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("detail", sa.String(500)),
)

exchanges = sa.Table(
    "exchanges", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), index=True),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("document_id", sa.String(36)),
    sa.Column("message_id", sa.String(255)),
    sa.Column("request_xml", EncryptedBytes(), nullable=False),
    sa.Column("response_xml", EncryptedBytes()),
    sa.Column("http_status", sa.Integer),
    sa.Column("outcome", sa.String(64), nullable=False),
    _ts("started_at"),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("vendor", sa.String(64), nullable=False),
    sa.Column("brin", sa.String(16), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("source_id", sa.String(255)),
    sa.Column("data", EncryptedJSON(), nullable=False),
    _ts("created_at"),
    _ts("published_at", nullable=True),
    sa.Index("ix_outbox_unpublished", "published_at", "id"),
)

terugmeldingen = sa.Table(
    "terugmeldingen", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False, index=True),
    sa.Column("meldingsnummer", sa.String(64), nullable=False),
    _ts("laatste_mutatie"),
    sa.Column("status", sa.String(2), nullable=False),
    sa.Column("data", EncryptedJSON(), nullable=False),
    _ts("received_at"),
    sa.UniqueConstraint("meldingsnummer", "laatste_mutatie", name="uq_terugmeldingen_mutation"),
)

bijlagen = sa.Table(
    "bijlagen", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False, index=True),
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("bestandsnaam", sa.String(200), nullable=False),
    sa.Column("mime_type", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", EncryptedBytes(), nullable=False),
    sa.Column("document_id", sa.String(36), nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    _ts("next_attempt_at"),
    sa.Column("bijlage_id", sa.String(60)),
    sa.Column("last_error", sa.Text),
    _ts("created_at"),
    _ts("updated_at"),
    # the replica holding a ``sending`` row and until when, as for submissions (0012)
    sa.Column("claimed_by", sa.String(64)),
    _ts("lease_until", nullable=True),
    sa.Index("ix_bijlagen_state_due", "state", "next_attempt_at"),
)

signals = sa.Table(
    "signals", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("vendor", sa.String(64), nullable=False),
    sa.Column("brin", sa.String(16), nullable=False),
    sa.Column("student_key", sa.String(64), nullable=False),
    sa.Column("signaal", sa.String(32), nullable=False),
    sa.Column("situation", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("data", EncryptedJSON(), nullable=False),
    _ts("raised_at"),
    _ts("closed_at", nullable=True),
    sa.UniqueConstraint("vendor", "brin", "student_key", "situation",
                        name="uq_signals_situation"),
    sa.Index("ix_signals_state", "state", "signaal"),
)

# The student key first used for a SIS student number (0006): hash of vendor, BRIN and
# leerlingnummer -> student key, so an onderwijsnummer later replaced by a BSN keeps one key.
student_aliases = sa.Table(
    "student_aliases", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("vendor", sa.String(64), nullable=False),
    sa.Column("brin", sa.String(16), nullable=False),
    sa.Column("leerling_key", sa.String(64), nullable=False),
    sa.Column("student_key", sa.String(64), nullable=False),
    _ts("created_at"),
    sa.UniqueConstraint("vendor", "brin", "leerling_key", name="uq_student_aliases_key"),
)

# Fingerprints the store checks its settings against at start-up (0009): row
# ``student_key_check`` holds HMAC(secret, fixed text) of the student key secret.
store_checks = sa.Table(
    "store_checks", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

#: Named leases with one holder at a time (the feedback poller: adapter.store.leases).
leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    _ts("expires_at"),
    sa.Column("epoch", sa.Integer, nullable=False),    # + 1 at every change of holder
)

watermarks = sa.Table(
    "watermarks", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    _ts("value"),
)

#: (table, encrypted columns): what ``archive rotate-key`` re-encrypts.
ENCRYPTED: tuple[tuple[sa.Table, tuple[str, ...]], ...] = (
    (reports, ("payload", "record")),
    (registraties, ("payload",)),
    (submissions, ("payload",)),
    (exchanges, ("request_xml", "response_xml")),
    (bijlagen, ("content",)),
    (terugmeldingen, ("data",)),
    (outbox, ("data",)),
    (signals, ("data",)),
)
