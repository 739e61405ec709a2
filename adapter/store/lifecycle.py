"""The send side: claiming submissions and recording what DUO answered.

Every function runs inside the caller's transaction. State changes are checked
against :mod:`adapter.store.states`; an illegal one raises
:class:`~adapter.store.states.IllegalTransition` and the transaction rolls back.

Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (replicas never claim the
same row) and rely on the single writer (``BEGIN IMMEDIATE``) on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from adapter.domain.model import Operation, Registratie, Status, Terugmelding
from adapter.errors import RuleViolation
from adapter.store import followups, leases
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import (
    add_submission,
    latest_submission,
    rejection_errors,
    set_report_state,
)
from adapter.store.api import Claim, ExchangeRecord, FieldViolation
from adapter.store.bulk import insert_rows
from adapter.store.common import as_utc, clip, decode, history, history_many, history_row
from adapter.store.keylist import in_list
from adapter.store.outbox import outbox_event, outbox_events
from adapter.store.registraties import report_context
from adapter.store.terugmeldingen import adopt_web_report

#: DUO's answer to a change of a report it does not know (any more): after its schoning.
DUO_UNKNOWN_REPORT = "VZ901"
_sub, _rep = t.submissions, t.reports
_JOINED = sa.select(
    _sub, _rep.c.vendor, _rep.c.brin, _rep.c.source_id, _rep.c.meldingsnummer,
    _rep.c.laatste_mutatie, _rep.c.duo_status, _rep.c.state.label("report_state"),
    _rep.c.content_hash.label("report_content_hash"),
).select_from(_sub.join(_rep, _sub.c.report_id == _rep.c.id))

# The claimed rows with their reports, read in one statement.
_CLAIMING = _JOINED.where(in_list(_sub.c.id, "ids")).order_by(_sub.c.id)
# All rows of a claim in one statement (not one per row: on PostgreSQL each row of an
# executemany is a round of the driver's pipeline).
_CLAIMED = _sub.update().where(in_list(_sub.c.id, "b_ids")).values(
    state=S.SUBMITTING, attempts=_sub.c.attempts + sa.bindparam("b_counted"),
    updated_at=sa.bindparam("b_now"), claimed_by=sa.bindparam("b_owner"),
    lease_until=sa.bindparam("b_until"))
# Built once: every outcome reads its submission so; without the payload, which an
# outcome does not need (no decryption per outcome).
_JOINED_BY_ID = (sa.select(*[c for c in _JOINED.selected_columns if c.key != "payload"])
                 .select_from(_sub.join(_rep, _sub.c.report_id == _rep.c.id))
                 .where(_sub.c.id == sa.bindparam("sid"))
                 .with_for_update(of=_sub, key_share=True))
# A registration's outcome also needs the report's content for its event's context: read
# with the submission, not again (registraties.report_context).
JOINED_WITH_REPORT = _JOINED_BY_ID.add_columns(
    _rep.c.student_key.label("report_student_key"), _rep.c.payload.label("report_payload"))
# PostgreSQL's lock order (report, then submission): the report row of a submission,
# locked, in one statement (the subquery locks nothing).
_LOCK_REPORT_OF = (sa.select(_rep.c.id)
                   .where(_rep.c.id == sa.select(_sub.c.report_id)
                          .where(_sub.c.id == sa.bindparam("sid")).scalar_subquery())
                   .with_for_update(key_share=True))


class UnknownSubmission(LookupError):
    """No submission has this id."""


def _queries(state: str) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """Due submissions in ``state``, oldest first (``pending``: at most one per student,
    the student's oldest): a peek without locks and the claim's locking select. Built
    once with bind parameters ``now`` and ``limit``: the claim loop runs them often."""
    # The state as a constant, not a parameter: a prepared statement's generic plan
    # may then use ix_submissions_pending, a partial index (migration 0015).
    query = sa.select(_sub.c.id).where(_sub.c.state == sa.literal_column(f"'{state}'"),
                                       _sub.c.next_attempt_at <= sa.bindparam("now"))
    if state == S.PENDING:
        older = _sub.alias("older")
        query = query.where(~sa.exists().where(
            older.c.student_key == _sub.c.student_key, older.c.id < _sub.c.id,
            older.c.state.in_(S.ACTIVE)))
    query = query.order_by(_sub.c.id)
    return query.limit(1), query.limit(sa.bindparam("limit")).with_for_update(
        skip_locked=True, of=_sub, key_share=True)


_DUE_PEEK, _DUE_CLAIM = _queries(S.PENDING)
_UNKNOWN_PEEK, _UNKNOWN_CLAIM = _queries(S.UNKNOWN)


def any_due(conn: Connection, *, now: datetime, unknown: bool = False) -> bool:
    """Whether :func:`claim_due` (``unknown``: :func:`claim_unknown`) would claim anything:
    a read without locks, so an idle claim loop never takes the write lock."""
    peek = _UNKNOWN_PEEK if unknown else _DUE_PEEK
    return conn.execute(peek, {"now": now}).first() is not None


def analyse_for_claims(conn: Connection) -> int:
    """PostgreSQL: fresh planner statistics for the claim's table (``ANALYZE``, a
    sample); returns how many submissions are pending now."""
    conn.exec_driver_sql("ANALYZE submissions")
    return int(conn.execute(sa.select(sa.func.count()).select_from(_sub)
                            .where(_sub.c.state == S.PENDING)).scalar_one())


def claim_due(conn: Connection, *, limit: int, now: datetime, owner: str | None = None,
              lease_until: datetime | None = None) -> list[Claim]:
    """Oldest due pending submissions, at most one per student, the student's oldest;
    ``owner`` holds them until ``lease_until`` (:mod:`adapter.store.leases`)."""
    ids = conn.execute(_DUE_CLAIM, {"now": now, "limit": limit}).scalars().all()
    return _claim(conn, list(ids), now, count_attempt=True, owner=owner, until=lease_until)


def claim_unknown(conn: Connection, *, limit: int, now: datetime, owner: str | None = None,
                  lease_until: datetime | None = None) -> list[Claim]:
    """Unknown submissions due for reconciliation; the attempt count does not change.

    ``next_attempt_at`` is when a look-up is due: a failed look-up postpones it
    (:func:`mark_unknown` with ``at``), a fresh unknown outcome is due at once."""
    ids = conn.execute(_UNKNOWN_CLAIM, {"now": now, "limit": limit}).scalars().all()
    return _claim(conn, list(ids), now, count_attempt=False, owner=owner, until=lease_until)


def _claim(conn: Connection, ids: list[int], now: datetime, *, count_attempt: bool,
           owner: str | None, until: datetime | None) -> list[Claim]:
    if not ids:
        return []
    rows = conn.execute(_CLAIMING, {"ids": ids}).all()
    claims = []
    notes = []
    for row in rows:
        S.check_submission(row.state, S.SUBMITTING, row_id=row.id)
        attempt = row.attempts + 1 if count_attempt else row.attempts
        notes.append(history_row(row.report_id, "claimed", at=now, from_state=row.state,
                                 to_state=S.SUBMITTING, submission_id=row.id,
                                 detail=f"{row.operation} attempt {attempt}"))
    if rows:       # all rows of the claim in two statements
        conn.execute(_CLAIMED, {"b_ids": [row.id for row in rows],
                                "b_counted": int(count_attempt), "b_now": now,
                                "b_owner": owner, "b_until": until})
        history_many(conn, notes)
    for row in rows:
        attempt = row.attempts + 1 if count_attempt else row.attempts
        try:
            melding = decode(row.payload)
        except RuleViolation as exc:
            # A stored payload that no longer decodes (e.g. after a codec change) would
            # be claimed forever; fail it visibly instead. The message names fields only.
            mark_failed(conn, row.id, reason=f"stored payload unreadable: {exc}", now=now)
            continue
        if count_attempt:  # a send, not a reconciliation: name DUO's number of the earlier report
            resolution = followups.resolve(conn, row, melding)
            if isinstance(resolution, followups.Refused):
                mark_rejected(conn, row.id, now=now, errors=[],
                              violations=[(resolution.field, resolution.rule, resolution.code)])
                continue
            if isinstance(resolution, followups.Wait):
                followups.requeue_behind(conn, row, now)
                continue
            melding = resolution.melding
        claims.append(Claim(
            submission_id=row.id, report_id=row.report_id, vendor=row.vendor,
            operation=Operation(row.operation), document_id=row.document_id, attempt=attempt,
            melding=melding, meldingsnummer=row.meldingsnummer,
            laatste_mutatie=row.laatste_mutatie, duo_status=row.duo_status))
    return claims


def recover_interrupted(conn: Connection, *, now: datetime) -> int:
    """Every ``submitting`` row becomes ``unknown``: we cannot know whether it left."""
    ids = conn.execute(sa.select(_sub.c.id).where(_sub.c.state == S.SUBMITTING)
                       .order_by(_sub.c.id)).scalars().all()
    return _to_unknown(conn, ids, now, "interrupted")


def recover_expired(conn: Connection, *, now: datetime) -> int:
    """``submitting`` rows whose lease ran out become ``unknown`` (reconciled before any
    resend); claims a live replica renews are left alone."""
    return _to_unknown(conn, leases.expired_claims(conn, now=now), now, "lease_expired")


def _to_unknown(conn: Connection, ids: Sequence[int], now: datetime, event: str) -> int:
    count = 0
    for submission_id in ids:
        if _transition(conn, submission_id, S.UNKNOWN, now, event,
                       only_from=frozenset({S.SUBMITTING}), skip_other=True) is not None:
            count += 1
    return count


def _transition(conn: Connection, submission_id: int, to_state: str, now: datetime,
                event: str, *, only_from: frozenset[str] | None = None,
                skip_other: bool = False, owner: str | None = None,
                with_report: bool = False, held: list[dict[str, Any]] | None = None,
                **values: Any) -> Row[Any] | None:
    """Move one submission, locking its report first and then the submission (the
    same order as ``accept``, so the two cannot deadlock on PostgreSQL).
    ``with_report``: the row also holds the report's ``report_student_key`` and
    ``report_payload``. ``held``: the history row is appended there for the caller
    to write (with the report's, ``set_report_state(history_before=…)``)."""
    if conn.dialect.name == "postgresql":
        # SQLite has one writer (BEGIN IMMEDIATE): no row locks, no order to keep.
        if conn.execute(_LOCK_REPORT_OF, {"sid": submission_id}).first() is None:
            raise UnknownSubmission(f"no submission {submission_id}")
    row = conn.execute(JOINED_WITH_REPORT if with_report else _JOINED_BY_ID,
                       {"sid": submission_id}).one_or_none()
    if row is None:
        raise UnknownSubmission(f"no submission {submission_id}")
    if only_from is not None and row.state not in only_from:
        check_owner(row, owner)
        if skip_other:
            return None
        raise S.IllegalTransition("submission", row.state, to_state, row_id=submission_id)
    check_move(row, to_state, owner)
    conn.execute(_sub.update().where(_sub.c.id == submission_id).values(
        state=to_state, updated_at=now, **values))
    entry = move_note(row, to_state, event, now)
    if held is None:
        history_many(conn, [entry])
    else:
        held.append(entry)
    return row


def check_owner(row: Row[Any], owner: str | None) -> None:
    """A claimed submission's outcome comes from its owner (:class:`leases.ClaimLost`)."""
    if (owner is not None and row.state == S.SUBMITTING
            and row.claimed_by not in (None, owner)):
        raise leases.ClaimLost(row.id)


def check_move(row: Row[Any], to_state: str, owner: str | None) -> None:
    """Whether the daemon may move the submission ``row`` to ``to_state`` (raises)."""
    check_owner(row, owner)
    if (row.state, to_state) in S.OPERATOR_TRANSITIONS:   # replay's, never the daemon's
        raise S.IllegalTransition("submission", row.state, to_state, row_id=row.id)
    S.check_submission(row.state, to_state, row_id=row.id)


def move_note(row: Row[Any], to_state: str, event: str, now: datetime) -> dict[str, Any]:
    """The history row of a submission's move."""
    return history_row(row.report_id, event, at=now, from_state=row.state, to_state=to_state,
                       submission_id=row.id, detail=f"{row.operation} attempt {row.attempts}")


def registered_event(conn: Connection, row: Row[Any], meldingsnummer: str, status: str,
                     now: datetime, regs: list[Registratie] | None = None) -> dict[str, Any]:
    """The ``registered`` event of a submission (``row``: read with its report), as an
    outbox row; ``regs``: its student's registrations when read already."""
    context = report_context(conn, row.report_id, regs=regs, row=SimpleNamespace(
        vendor=row.vendor, student_key=row.report_student_key, payload=row.report_payload))
    return dict(message_id=f"registered:{row.document_id}", vendor=row.vendor, brin=row.brin,
                event="registered", source_id=row.source_id, created_at=now, published_at=None,
                data={**context, "meldingsnummer": meldingsnummer, "status": status,
                      "business_document_id": row.document_id, "operation": row.operation})


def _move(conn: Connection, submission_id: int, to_state: str, now: datetime, event: str,
          *, only_from: frozenset[str] | None = None, owner: str | None = None,
          with_report: bool = False, held: list[dict[str, Any]] | None = None,
          **values: Any) -> Row[Any]:
    row = _transition(conn, submission_id, to_state, now, event, only_from=only_from,
                      owner=owner, with_report=with_report, held=held, **values)
    if row is None:  # only when skip_other, which _move never passes
        raise UnknownSubmission(f"no submission {submission_id}")
    return row


def mark_registered(conn: Connection, submission_id: int, *, meldingsnummer: str, status: str,
                    laatste_mutatie: datetime, now: datetime,
                    exchanges: Sequence[ExchangeRecord] = (), owner: str | None = None) -> None:
    record_exchanges(conn, exchanges)
    held: list[dict[str, Any]] = []     # the submission's history row, written with the report's
    row = _move(conn, submission_id, S.DONE, now, "registered", owner=owner, last_error=None,
                with_report=True, held=held)
    if row.operation == "intrekken":
        target = S.WITHDRAWN
    elif row.operation == "aanleveren":
        target = S.REGISTERED
    else:  # a wijzigen leaves the report where it is (registered, or withdrawn by feedback)
        target = row.report_state
    set_report_state(conn, row.report_id, row.report_state, target, now, "report_" + target,
                     submission_id=submission_id, meldingsnummer=meldingsnummer,
                     duo_status=status, laatste_mutatie=laatste_mutatie, history_before=held)
    if row.operation == "aanleveren":
        adopt_web_report(conn, row.report_id, row.brin, meldingsnummer, now)
    outbox_events(conn, [registered_event(conn, row, meldingsnummer, status, now)])
    follow_up(conn, row, now)


def mark_rejected(conn: Connection, submission_id: int, *, errors: list[tuple[str, str]],
                  now: datetime, violations: Sequence[FieldViolation] = (),
                  exchanges: Sequence[ExchangeRecord] = (), owner: str | None = None) -> None:
    """``errors``: DUO's (code, text) pairs (its texts state rules, never values; DUO
    names no field); ``violations``: the adapter's own (field, rule, code) refusals."""
    record_exchanges(conn, exchanges)
    codes = ",".join([*(code for code, _ in errors), *(c for _, _, c in violations)])[:200]
    row = _move(conn, submission_id, S.REJECTED, now, "rejected", owner=owner,
                      last_error=clip(f"rejected: {codes}"))
    if row.operation == "aanleveren":
        set_report_state(conn, row.report_id, row.report_state, S.REJECTED, now,
                         "report_rejected", submission_id=submission_id)
    elif any(code == DUO_UNKNOWN_REPORT for code, _ in errors) and row.meldingsnummer:
        # DUO no longer knows a report it registered: its schoning. Never a withdrawal:
        # the report stays as it was, with its evidence; the school can see DUO forgot it.
        conn.execute(_rep.update().where(_rep.c.id == row.report_id,
                                         _rep.c.duo_purged_at.is_(None))
                     .values(duo_purged_at=now))
        history(conn, row.report_id, "purged_at_duo", at=now, submission_id=submission_id,
                detail=f"{row.operation}: DUO answered {DUO_UNKNOWN_REPORT}")
    outbox_event(conn, message_id=f"rejected:{row.document_id}", vendor=row.vendor,
                 brin=row.brin, event="rejected", source_id=row.source_id, at=now, data={
                     **report_context(conn, row.report_id), "errors": [
                         *({"code": c, "field": None, "rule": x, "text": x} for c, x in errors),
                         *rejection_errors(violations)],
                     "operation": row.operation})
    follow_up(conn, row, now)


def mark_failed(conn: Connection, submission_id: int, *, reason: str, now: datetime,
                exchanges: Sequence[ExchangeRecord] = (), owner: str | None = None) -> None:
    record_exchanges(conn, exchanges)
    row = _move(conn, submission_id, S.FAILED, now, "failed", owner=owner, last_error=clip(reason))
    if row.operation == "aanleveren":
        set_report_state(conn, row.report_id, row.report_state, S.FAILED, now,
                         "report_failed", submission_id=submission_id)
    outbox_event(conn, message_id=f"failed:{row.document_id}", vendor=row.vendor,
                 brin=row.brin, event="failed", source_id=row.source_id, at=now, data={
                     **report_context(conn, row.report_id), "reason": reason,
                     "attempts": row.attempts, "operation": row.operation})


def retry_later(conn: Connection, submission_id: int, *, at: datetime, error: str,
                now: datetime, exchanges: Sequence[ExchangeRecord] = (),
                owner: str | None = None) -> None:
    record_exchanges(conn, exchanges)
    _move(conn, submission_id, S.PENDING, now, "retry_scheduled", owner=owner, next_attempt_at=at,
                last_error=clip(error))


def mark_unknown(conn: Connection, submission_id: int, *, error: str, now: datetime,
                 at: datetime | None = None, count_attempt: bool = False,
                 exchanges: Sequence[ExchangeRecord] = (), owner: str | None = None) -> None:
    """The outcome is unknown: reconcile (look up) from ``at`` on (default: now).

    ``count_attempt`` counts a failed look-up as an attempt against ``duo.max_attempts``.
    """
    record_exchanges(conn, exchanges)
    values: dict[str, Any] = {"next_attempt_at": at or now}
    if count_attempt:
        values["attempts"] = _sub.c.attempts + 1
    _move(conn, submission_id, S.UNKNOWN, now, "outcome_unknown", owner=owner,
          last_error=clip(error), **values)


def release(conn: Connection, submission_id: int, *, now: datetime,
            owner: str | None = None) -> None:
    """Give a claimed, unsent submission back (shutdown); its attempt is not counted."""
    row = _move(conn, submission_id, S.PENDING, now, "released", owner=owner,
                      only_from=frozenset({S.SUBMITTING}))
    conn.execute(_sub.update().where(_sub.c.id == submission_id).values(
        attempts=max(row.attempts - 1, 0)))


def follow_up(conn: Connection, settled: Row[Any], now: datetime) -> None:
    """Queue what the SIS sent while ``settled`` was in flight, now that it has settled.

    Only when ``settled`` is still the report's newest submission and the
    report's content differs from what it carried: a registered report gets a
    ``wijzigen`` (``intrekken`` if the new version is deleted), a rejected one a
    fresh ``aanleveren``.
    """
    if settled.report_content_hash == settled.content_hash:
        return        # the common case: nothing arrived while it was in flight
    newest = latest_submission(conn, settled.report_id)
    report = conn.execute(sa.select(_rep).where(_rep.c.id == settled.report_id)).one()
    if newest is None or newest.id != settled.id or report.content_hash == settled.content_hash:
        return
    deleted = bool(report.payload.get("deleted"))
    if report.state == S.REGISTERED:
        add_submission(conn, report.id, report.student_key,
                       "intrekken" if deleted else "wijzigen", report.payload,
                       report.content_hash, now)
    elif report.state == S.REJECTED and not deleted:
        set_report_state(conn, report.id, report.state, S.QUEUED, now, "resubmitted")
        add_submission(conn, report.id, report.student_key, "aanleveren", report.payload,
                       report.content_hash, now)


def record_duo_version(conn: Connection, submission_id: int, *, item: Terugmelding,
                       now: datetime) -> None:
    """Keep DUO's version of a report (fetched after ``VZ903``) in its history.

    The history row names the status and the mutation stamp only; the report takes
    DUO's status and stamp when they are newer than what it holds, so the next
    ``wijzigen``/``intrekken`` carries the fresh stamp. The report's own state is
    left to the feedback poller, which still delivers the change as a terugmelding.
    """
    report_id = conn.execute(sa.select(_sub.c.report_id)
                             .where(_sub.c.id == submission_id)).scalar_one_or_none()
    if report_id is None:
        raise UnknownSubmission(f"no submission {submission_id}")
    report = conn.execute(sa.select(_rep.c.id, _rep.c.laatste_mutatie)
                          .where(_rep.c.id == report_id).with_for_update(key_share=True)).one()
    mutation = as_utc(item.laatste_mutatie)
    status = Status(item.status).value
    history(conn, report_id, "duo_version", at=now, submission_id=submission_id,
            detail=f"meldingsnummer {item.meldingsnummer} status {status} "
                   f"laatste_mutatie {mutation.isoformat()}")
    if report.laatste_mutatie is None or mutation > as_utc(report.laatste_mutatie):
        conn.execute(_rep.update().where(_rep.c.id == report_id).values(
            duo_status=status, laatste_mutatie=mutation, updated_at=now))


def record_exchanges(conn: Connection, exchanges: Sequence[ExchangeRecord]) -> None:
    """Keep these request/response pairs (one statement for all)."""
    insert_rows(conn, t.exchanges, [{
        "submission_id": x.submission_id, "operation": x.operation,
        "document_id": x.document_id, "message_id": x.message_id,
        "request_xml": x.request_xml, "response_xml": x.response_xml,
        "http_status": x.http_status, "outcome": x.outcome,
        "started_at": x.started_at, "duration_ms": x.duration_ms} for x in exchanges])
