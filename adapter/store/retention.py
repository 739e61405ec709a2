"""Retention: the school's archive forgets closed reports after its own period.

A report is purged when ALL of these hold:

- it is closed: ``withdrawn``, ``rejected``, ``failed``, or ``registered`` with DUO's
  status G, K or I (closed by the municipality or withdrawn at DUO), or one DUO
  no longer knows (``duo_purged_at``, its schoning);
- its last change is older than the retention period (``[retention] years``);
- it is past DUO's own schoning horizon: DUO said it forgot it, or its last change
  is older than ``[retention] duo_keeps_days`` (DUO's rule is not published [?];
  while DUO may still hold a report, the school keeps its evidence).

Reports still open at DUO (R, B), queued or held are never purged. With a report go
its history, submissions, exchanges, attachments, feedback and the events the outbox
holds for it. Registrations go when they are past the period and their student has
no report left at all (a kept report may still need them for its
verzuimdagspecificatie). Closed signals and inbox keys past the period go too.

Every step works on at most :data:`BATCH` reports per call, so the caller commits in
short transactions.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.store import schema as t
from adapter.store import states as S

BATCH = 500
CLOSED_AT_DUO = ("G", "K", "I")


def purgeable_reports(conn: Connection, *, cutoff: datetime, horizon: datetime,
                      limit: int | None = BATCH, after: int = 0) -> list[int]:
    """Ids (above ``after``) of reports the policy lets go (see the module docstring),
    oldest first."""
    r = t.reports.c
    closed = sa.or_(r.state.in_((S.WITHDRAWN, S.REJECTED, S.FAILED)),
                    sa.and_(r.state == S.REGISTERED,
                            sa.or_(r.duo_status.in_(CLOSED_AT_DUO), r.duo_purged_at.is_not(None))))
    past_duo = sa.or_(r.duo_purged_at.is_not(None), r.updated_at < horizon)
    return list(conn.execute(sa.select(r.id).where(r.id > after, r.updated_at < cutoff, closed,
                                                   past_duo)
                             .order_by(r.id).limit(limit)).scalars().all())


def purge_reports(conn: Connection, ids: list[int], *, dry_run: bool) -> Counter[str]:
    """Delete (or, ``dry_run``, count) the reports ``ids`` and what belongs to them."""
    counts: Counter[str] = Counter()
    if not ids:
        return counts
    sub, rep = t.submissions.c, t.reports.c
    subs = sa.select(sub.id).where(sub.report_id.in_(ids)).scalar_subquery()
    keys = conn.execute(sa.select(rep.vendor, rep.brin, rep.source_id)
                        .where(rep.id.in_(ids))).all()
    outbox = t.outbox.c
    outbox_where = sa.and_(outbox.published_at.is_not(None), sa.tuple_(
        outbox.vendor, outbox.brin, outbox.source_id).in_([tuple(k) for k in keys]))
    steps: list[tuple[str, sa.Table, sa.ColumnElement[bool]]] = [
        ("exchanges", t.exchanges, t.exchanges.c.submission_id.in_(subs)),
        ("bijlagen", t.bijlagen, t.bijlagen.c.report_id.in_(ids)),
        ("terugmeldingen", t.terugmeldingen, t.terugmeldingen.c.report_id.in_(ids)),
        ("history", t.report_history, t.report_history.c.report_id.in_(ids)),
        ("outbox", t.outbox, outbox_where),
        ("submissions", t.submissions, t.submissions.c.report_id.in_(ids)),
        ("reports", t.reports, t.reports.c.id.in_(ids)),
    ]
    return _apply(conn, steps, dry_run=dry_run)


def purge_rest(conn: Connection, *, cutoff: datetime, dry_run: bool) -> Counter[str]:
    """Registrations of students with no report left, closed signals and inbox keys,
    all past the period."""
    reg, rep = t.registraties.c, t.reports.c
    has_report = sa.exists().where(rep.vendor == reg.vendor, rep.brin == reg.brin,
                                   rep.student_key == reg.student_key)
    sig = t.signals.c
    steps: list[tuple[str, sa.Table, sa.ColumnElement[bool]]] = [
        ("registraties", t.registraties,
         sa.and_(reg.updated_at < cutoff, reg.datum < cutoff.date(), ~has_report)),
        ("signals", t.signals, sa.and_(sig.state == "closed", sig.closed_at < cutoff)),
        ("inbox", t.inbox_messages, t.inbox_messages.c.received_at < cutoff),
    ]
    return _apply(conn, steps, dry_run=dry_run)


def _apply(conn: Connection, steps: list[tuple[str, sa.Table, sa.ColumnElement[bool]]], *,
           dry_run: bool) -> Counter[str]:
    """Delete (or count) the rows of each step, in order; the number per step's name."""
    counts: Counter[str] = Counter()
    for name, table, where in steps:
        if dry_run:
            counts[name] = int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                            .where(where)).scalar_one())
        else:
            counts[name] = int(conn.execute(table.delete().where(where)).rowcount or 0)
    return counts
