"""``replay``: failed submissions back to ``pending``, by an operator's decision.

A submission fails after ``duo.max_attempts`` (DUO unreachable, faults, an
outcome it could not learn). Once the cause is gone an operator replays it:
the submission goes ``failed → pending`` with its attempts reset and **its own
business-document id**, so a replay can never double a report at DUO: should
DUO have processed an earlier attempt after all, it answers "duplicate"
(VZ900) and the submitter reconciles (looks the id up and records DUO's
number). An ``aanleveren``'s report goes ``failed → queued`` with it.

Only a report's newest submission is replayed: an older one was superseded
by what the SIS sent later, and sending it would put stale content at DUO.

Every function runs inside the caller's transaction; rows are read and
written with ids, states, codes and times only (no payload).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import latest_submission, set_report_state
from adapter.store.common import history

__all__ = ["ReplayCandidate", "ReplayOutcome", "failed_submissions", "replay_submission"]

_sub, _rep, _x = t.submissions, t.reports, t.exchanges


@dataclass(frozen=True)
class ReplayCandidate:
    """A failed submission and its original failure (no personal data).

    ``failure_class`` is the outcome of its last exchange with DUO (``transient``,
    ``unknown``, ``system``, ``fault:<code>`` …; None when nothing was exchanged),
    ``code`` the HTTP status of that exchange, ``last_error`` the reason it failed
    with (codes and class names), ``last_attempt_at`` when it was last tried.
    """

    submission_id: int
    report_id: int
    vendor: str
    brin: str
    source_id: str
    operation: str
    document_id: str
    attempts: int
    last_error: str | None
    last_attempt_at: datetime
    failure_class: str | None
    code: int | None


@dataclass(frozen=True)
class ReplayOutcome:
    """What :func:`replay_submission` did: ``replayed``, or ``skipped`` with a reason."""

    submission_id: int
    result: str
    reason: str | None = None


def _candidate(conn: Connection, row: Any) -> ReplayCandidate:
    last = conn.execute(sa.select(_x.c.outcome, _x.c.http_status, _x.c.started_at)
                        .where(_x.c.submission_id == row.id)
                        .order_by(_x.c.started_at.desc(), _x.c.id.desc()).limit(1)).first()
    return ReplayCandidate(
        submission_id=row.id, report_id=row.report_id, vendor=row.vendor, brin=row.brin,
        source_id=row.source_id, operation=row.operation, document_id=row.document_id,
        attempts=row.attempts, last_error=row.last_error,
        last_attempt_at=last.started_at if last is not None else row.updated_at,
        failure_class=last.outcome if last is not None else None,
        code=last.http_status if last is not None else None)


def failed_submissions(conn: Connection, *, report_id: int | None = None) -> list[ReplayCandidate]:
    """Failed submissions that are their report's newest, oldest first (of one report
    with ``report_id``)."""
    later = _sub.alias("later")
    newer = sa.exists().where(later.c.report_id == _sub.c.report_id, later.c.id > _sub.c.id)
    query = (sa.select(_sub.c.id, _sub.c.report_id, _sub.c.operation, _sub.c.document_id,
                       _sub.c.attempts, _sub.c.last_error, _sub.c.updated_at, _rep.c.vendor,
                       _rep.c.brin, _rep.c.source_id)
             .select_from(_sub.join(_rep, _sub.c.report_id == _rep.c.id))
             .where(_sub.c.state == S.FAILED, ~newer).order_by(_sub.c.id))
    if report_id is not None:
        query = query.where(_sub.c.report_id == report_id)
    return [_candidate(conn, row) for row in conn.execute(query)]


def replay_submission(conn: Connection, submission_id: int, *, now: datetime) -> ReplayOutcome:
    """``failed → pending`` with the same document id, attempts 0, due now; the report
    ``failed → queued`` for an ``aanleveren``. Skipped (nothing changes) when the
    submission is no longer failed or no longer its report's newest."""
    report_id = conn.execute(sa.select(_sub.c.report_id)
                             .where(_sub.c.id == submission_id)).scalar_one_or_none()
    if report_id is None:
        return ReplayOutcome(submission_id, "skipped", "no such submission")
    report = conn.execute(sa.select(_rep.c.id, _rep.c.state).where(_rep.c.id == report_id)
                          .with_for_update(key_share=True)).one()
    sub = latest_submission(conn, report_id)
    if sub is None or sub.id != submission_id:
        return ReplayOutcome(submission_id, "skipped", "superseded by a newer submission")
    if sub.state != S.FAILED:
        return ReplayOutcome(submission_id, "skipped", f"no longer failed ({sub.state})")
    S.check_submission(sub.state, S.PENDING, row_id=submission_id)
    conn.execute(_sub.update().where(_sub.c.id == submission_id).values(
        state=S.PENDING, attempts=0, next_attempt_at=now, updated_at=now))
    history(conn, report_id, "replayed", at=now, from_state=S.FAILED, to_state=S.PENDING,
            submission_id=submission_id,
            detail=f"{sub.operation} after {sub.attempts} attempts, same document id")
    if sub.operation == "aanleveren" and report.state == S.FAILED:
        set_report_state(conn, report_id, report.state, S.QUEUED, now, "report_replayed",
                         submission_id=submission_id)
    return ReplayOutcome(submission_id, "replayed")
