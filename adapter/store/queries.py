"""Read-only views for ``status``, ``meldingen list/show`` and ``incident``.

Only :func:`exchanges_for`, :func:`report_content` and :func:`terugmeldingen_of`
return personal data (the signed XML, the record, DUO's officer: for the school's
own evidence, ``meldingen evidence``); everything else returns ids, states, codes
and timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.api import ExchangeRecord, ReportSummary


def counts(conn: Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for key, table in (("reports", t.reports), ("submissions", t.submissions)):
        rows = conn.execute(sa.select(table.c.state, sa.func.count())
                            .group_by(table.c.state)).all()
        out[key] = {state: int(n) for state, n in rows}
    published = sa.case((t.outbox.c.published_at.is_(None), "pending"), else_="published")
    rows = conn.execute(sa.select(published, sa.func.count()).group_by(published)).all()
    out["outbox"] = {"pending": 0, "published": 0} | {k: int(n) for k, n in rows}
    return out


def oldest_pending(conn: Connection) -> datetime | None:
    """Creation time of the oldest submission not yet settled (pending, submitting, unknown)."""
    return conn.execute(sa.select(sa.func.min(t.submissions.c.created_at))
                        .where(t.submissions.c.state.in_(S.ACTIVE))).scalar()


def _summary(row: Row[Any]) -> ReportSummary:
    return ReportSummary(
        report_id=row.id, vendor=row.vendor, brin=row.brin,
        state=row.state, duo_status=row.duo_status, meldingsnummer=row.meldingsnummer,
        verzuimsoort=row.verzuimsoort, created_at=row.created_at, updated_at=row.updated_at,
        source_id=None if row.origin == "web" else row.source_id, origin=row.origin,
        duo_purged_at=row.duo_purged_at)


_SUMMARY_COLS = [t.reports.c[n] for n in (
    "id", "vendor", "brin", "source_id", "state", "duo_status", "meldingsnummer",
    "verzuimsoort", "created_at", "updated_at", "origin", "duo_purged_at")]


def list_reports(conn: Connection, *, limit: int, state: str | None,
                 duo_status: str | None = None, brin: str | None = None,
                 verzuimsoort: str | None = None,
                 since: datetime | None = None) -> list[ReportSummary]:
    """Newest first; each given filter must hold (``since``: created at or after it)."""
    r = t.reports.c
    query = sa.select(*_SUMMARY_COLS).order_by(r.id.desc()).limit(limit)
    for column, value in ((r.state, state), (r.duo_status, duo_status), (r.brin, brin),
                          (r.verzuimsoort, verzuimsoort)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(r.created_at >= since)
    return [_summary(row) for row in conn.execute(query)]


#: The operation the feedback poller calls.
POLL_OPERATION = "opvragenGewijzigdeVerzuimmeldingen"


def duo_activity(conn: Connection) -> dict[str, Any]:
    """The latest exchange with DUO, the latest that did not end ``ok`` and the latest
    feedback poll: operation, outcome, HTTP status and time of each (None when none)."""
    x = t.exchanges
    cols = (x.c.operation, x.c.outcome, x.c.http_status, x.c.started_at)

    def latest(*where: Any) -> dict[str, Any] | None:
        row = conn.execute(sa.select(*cols).where(*where).order_by(x.c.id.desc())
                           .limit(1)).first()
        return dict(row._mapping) if row is not None else None

    return {"last_exchange": latest(), "last_error": latest(x.c.outcome != "ok"),
            "last_poll": latest(x.c.operation == POLL_OPERATION)}


def watermarks(conn: Connection, prefix: str = "") -> dict[str, datetime]:
    """Every stored watermark whose name starts with ``prefix`` (e.g. ``feedback:``)."""
    w = t.watermarks.c
    rows = conn.execute(sa.select(w.name, w.value).where(w.name.startswith(prefix, autoescape=True))
                        .order_by(w.name)).all()
    return {name: value for name, value in rows}


def report_detail(conn: Connection, report_id: int) -> dict[str, Any] | None:
    """Summary, history, submissions (no payload) and exchanges (no XML) of one report."""
    row = conn.execute(sa.select(*_SUMMARY_COLS).where(t.reports.c.id == report_id)).first()
    if row is None:
        return None
    h = t.report_history
    history = [dict(r._mapping) for r in conn.execute(
        sa.select(h.c.at, h.c.event, h.c.from_state, h.c.to_state, h.c.submission_id,
                  h.c.detail).where(h.c.report_id == report_id).order_by(h.c.id))]
    s = t.submissions
    subs = [dict(r._mapping) for r in conn.execute(
        sa.select(s.c.id, s.c.operation, s.c.document_id, s.c.state, s.c.attempts,
                  s.c.next_attempt_at, s.c.last_error, s.c.created_at, s.c.updated_at)
        .where(s.c.report_id == report_id).order_by(s.c.id))]
    x = t.exchanges
    exchanges = [dict(r._mapping) for r in conn.execute(
        sa.select(x.c.id, x.c.submission_id, x.c.operation, x.c.document_id, x.c.message_id,
                  x.c.http_status, x.c.outcome, x.c.started_at, x.c.duration_ms)
        .join(s, s.c.id == x.c.submission_id)
        .where(s.c.report_id == report_id).order_by(x.c.started_at, x.c.id))]
    summary = _summary(row)
    return {"report": vars(summary).copy(), "history": history, "submissions": subs,
            "exchanges": exchanges}


def exchanges_for(conn: Connection, report_id: int) -> list[ExchangeRecord]:
    """Every stored exchange of the report's submissions, oldest first, with full XML."""
    x, s = t.exchanges, t.submissions
    rows = conn.execute(sa.select(x).join(s, s.c.id == x.c.submission_id)
                        .where(s.c.report_id == report_id).order_by(x.c.started_at, x.c.id))
    return [ExchangeRecord(
        operation=r.operation, document_id=r.document_id, message_id=r.message_id,
        request_xml=bytes(r.request_xml),
        response_xml=bytes(r.response_xml) if r.response_xml is not None else None,
        http_status=r.http_status, outcome=r.outcome, started_at=r.started_at,
        duration_ms=r.duration_ms, submission_id=r.submission_id) for r in rows]


def report_content(conn: Connection, report_id: int) -> dict[str, Any] | None:
    """The report's content as sent (``payload``: the record with its days merged) and
    its record as the SIS delivered it (``record``; None for reports stored before it
    was kept)."""
    row = conn.execute(sa.select(t.reports.c.payload, t.reports.c.record)
                       .where(t.reports.c.id == report_id)).first()
    if row is None:
        return None
    return {"payload": row.payload, "record": row.record}


def terugmeldingen_of(conn: Connection, report_id: int) -> list[dict[str, Any]]:
    """DUO's feedback on the report, oldest mutation first: status, reden, officer."""
    tm = t.terugmeldingen
    rows = conn.execute(sa.select(tm.c.laatste_mutatie, tm.c.status, tm.c.data, tm.c.received_at)
                        .where(tm.c.report_id == report_id)
                        .order_by(tm.c.laatste_mutatie, tm.c.id))
    return [{"laatste_mutatie": r.laatste_mutatie, "status": r.status, "data": r.data,
             "received_at": r.received_at} for r in rows]


def report_ids(conn: Connection, *, since: datetime | None) -> list[int]:
    """Ids of the reports changed at or after ``since`` (all: None), oldest id first."""
    query = sa.select(t.reports.c.id).order_by(t.reports.c.id)
    if since is not None:
        query = query.where(t.reports.c.updated_at >= since)
    return [int(i) for i in conn.execute(query).scalars()]
