"""``Store.accept``: the inbox side. One AMQP message becomes reports, submissions
and rejection events in one transaction.

Rules per report, keyed by (vendor, BRIN, source_id); ``modified_at`` is
ignored when comparing content (see :func:`~adapter.store.common.content_hash`):

===========================================  ============================================  =========
situation                                    effect                                        counted
===========================================  ============================================  =========
new key                                      report ``queued`` + ``aanleveren`` pending    new
same content                                 nothing                                       unchanged
older ``modified_at`` than the stored one    history row only (stale version)              unchanged
newest submission pending and never claimed  replace its payload, keep its document_id;    updated
                                             deleted → ``intrekken``, or for a never-sent
                                             ``aanleveren``: cancel it, report ``withdrawn``
report ``registered``, nothing in flight     new ``wijzigen`` (``intrekken`` if deleted)   updated
report ``rejected``, nothing in flight       new ``aanleveren`` (fresh id), report         updated
                                             ``queued`` (the SIS corrected the record)
a submission in flight (claimed, unknown,    store the payload on the report; when the     updated
retrying)                                    in-flight one settles, the store queues the
                                             follow-up (see ``lifecycle.settle_follow_up``)
anything else (``failed``, ``withdrawn``,    store the payload, history row                unchanged
deleted after rejection)
content refused by the content check         ``rejected`` event naming field, rule and     rejection
                                             code; nothing stored, nothing queued
V4, the student's municipality wants no V4   report ``held``, nothing queued, one          new /
(``agreements``, wherever an ``aanleveren``  ``regionale_afspraak`` signal; a pending      updated
would be queued or kept)                     never-claimed ``aanleveren`` is cancelled
report ``held``                              held still: store the payload; no longer      updated
                                             held: ``queued`` + ``aanleveren``; deleted:
                                             ``withdrawn``
===========================================  ============================================  =========

Regional agreements (``agreements``, :class:`~adapter.domain.regions.RegionalAgreements`)
judge the report's ``student.gemeentecode``, or when it has none the one its
student's latest registration carries (:func:`held_by`); they only ever hold a
report that DUO has not registered: an amendment or withdrawal
of a registered report is sent as usual. A rejected report's resubmission queued
later by :func:`adapter.store.lifecycle.follow_up` (content that arrived while it
was in flight) is not held again.

The content check (``check``, a :data:`~adapter.store.api.ContentCheck`) judges
a report's final content, its record with the verzuimdagspecificatie merged,
whenever a submission would be queued or replaced for it (not for a deletion:
``intrekken`` carries no content). A new report it refuses is not stored; a
known report keeps its earlier content and submissions (history
``content_refused``), so only content that passed the check is ever sent.

Registrations (one per student and school day) are stored first, keyed by
(vendor, BRIN, source_id); a newer ``modified_at`` replaces an older version.
A report's content is its record as received (``reports.record``) with the
verzuimdagspecificatie merged from its student's counting registrations
(:func:`adapter.domain.dagspec.merge_days`); when a registration changes, every
report of that student whose period covers the date is re-evaluated through
the same rules as a new version of the record (so a registered report is
amended with ``wijzigen``, a queued one has its payload replaced). A
registration split per day (``<id>@<date>``) is replaced as a whole: days a
newer version no longer lists are marked deleted. Registrations are written
set-based (:mod:`adapter.store.registraties_bulk`) and the reports of the
touched students refreshed once per message, so a chunk of a large export costs
a bounded number of statements whatever the store already holds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from adapter.domain.model import Verzuimmelding
from adapter.domain.regions import NONE as NO_AGREEMENTS
from adapter.domain.regions import RegionalAgreements
from adapter.store import schema as t
from adapter.store import signals as _signals
from adapter.store import states as S
from adapter.store.api import (
    AcceptResult,
    ContentCheck,
    FieldViolation,
    IncomingRegistratie,
    IncomingRejection,
    IncomingReport,
    part_id,
)
from adapter.store.common import (
    as_utc,
    content_hash,
    encode,
    event_uuid,
    history,
    history_many,
    history_row,
    insert_ignore,
    new_document_id,
    student_key,
)
from adapter.store.outbox import outbox_event
from adapter.store.registraties import effective, refresh_reports, report_context
from adapter.store.registraties_bulk import store_registraties
from adapter.store.students import student_key_for

NEW, UPDATED, UNCHANGED, REFUSED = "new", "updated", "unchanged", "refused"
#: Part ids looked up per query by :func:`committed_parts`.
PART_PROBE = 500


def committed_parts(conn: Connection, message_id: str) -> set[int]:
    """The chunks of ``message_id`` already in the inbox (each committed whole).

    Exact look-ups on the unique inbox key, :data:`PART_PROBE` part ids at a
    time, until a window is not full (chunks are committed in order).
    """
    found: set[int] = set()
    m = t.inbox_messages.c.message_id
    if conn.execute(_INBOX_HAS, {"message_id": message_id}).first() is None:
        return found      # not even the first chunk: the common case, one exact look-up
    start = 0
    while True:
        names = {part_id(message_id, n): n for n in range(start, start + PART_PROBE)}
        rows = conn.execute(sa.select(m).where(m.in_(list(names)))).scalars().all()
        found |= {names[name] for name in rows}
        if len(rows) < PART_PROBE:
            return found
        start += PART_PROBE


#: pg_advisory_xact_lock key that serialises the intake transactions of replicas.
_INTAKE_LOCK = 0x76727a31


def serialise_intake(conn: Connection) -> None:
    """PostgreSQL: one intake transaction at a time, across replicas. A student's
    submissions are claimed oldest id first; two concurrent intakes could commit a
    lower id after a higher one was already claimed and sent, out of order. (SQLite
    has one writer already.)"""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _INTAKE_LOCK})


def accept(conn: Connection, *, message_id: str, vendor: str, routing_key: str,
           items: Sequence[IncomingReport | IncomingRegistratie | IncomingRejection],
           now: datetime, check: ContentCheck | None = None,
           agreements: RegionalAgreements = NO_AGREEMENTS) -> AcceptResult:
    inbox_id = insert_ignore(conn, t.inbox_messages, dict(
        message_id=message_id, vendor=vendor, routing_key=routing_key, received_at=now,
        items=len(items)), ["message_id"])
    if inbox_id is None:
        return AcceptResult(duplicate_message=True, new_reports=0, unchanged_reports=0,
                            rejections=0)
    _lock_known_reports(conn, items)
    tally = {NEW: 0, UPDATED: 0, UNCHANGED: 0, REFUSED: 0}
    rejections = 0
    registrations = [i for i in items if isinstance(i, IncomingRegistratie)]
    # Registrations first (set-based), so reports in this message see them.
    touched = store_registraties(conn, vendor, registrations, now)
    in_message: set[tuple[str, str, str]] = set()
    for item in items:
        if isinstance(item, IncomingRejection):
            _reject(conn, message_id, item, now)
            rejections += 1
        elif isinstance(item, IncomingReport):
            tally[accept_report(conn, message_id, item, now, check, agreements)] += 1
            in_message.add((item.vendor, item.melding.brin, item.melding.source_id))
    for report, melding in refresh_reports(conn, touched, skip=in_message):
        if report.state not in (S.QUEUED, S.REGISTERED, S.HELD):
            # A rejected, failed or withdrawn report is only revived by a new
            # version of its record, never by a registration.
            continue
        payload = encode(melding)
        digest = content_hash(payload)
        if digest == report.content_hash:
            continue
        violations = check(melding) if check is not None and not melding.deleted else ()
        if violations:
            _refuse(conn, message_id, report, violations, now,
                    event_id=event_uuid(message_id, "refused", str(report.id)), position=None)
            rejections += 1
            continue
        history(conn, report.id, "days_from_registrations", at=now)
        if _change(conn, report, payload, digest, deleted=melding.deleted, now=now,
                   held_by=held_by(conn, report.vendor, melding, agreements,
                                   skey=report.student_key)) == UPDATED:
            tally[UPDATED] += 1
    return AcceptResult(duplicate_message=False, new_reports=tally[NEW],
                        unchanged_reports=tally[UNCHANGED],
                        rejections=rejections + tally[REFUSED],
                        updated_reports=tally[UPDATED], registraties=len(registrations))


def _lock_known_reports(conn: Connection, items: Sequence[object]) -> None:
    """PostgreSQL: lock the message's existing reports in id order up front, so two
    messages naming the same reports in different orders cannot deadlock.
    (``FOR NO KEY UPDATE`` lets inserts referencing the rows proceed.)"""
    if conn.dialect.name != "postgresql":
        return  # SQLite: the write transaction already excludes every other writer
    keys = sorted({(i.vendor, i.melding.brin, i.melding.source_id)
                   for i in items if isinstance(i, IncomingReport)})
    if len(items) == 1:
        return   # a lone report: its look-up (``_find``) is the first lock taken anyway
    r = t.reports.c
    for start in range(0, len(keys), 1000):
        conn.execute(sa.select(r.id).where(
            sa.tuple_(r.vendor, r.brin, r.source_id).in_(keys[start:start + 1000]))
            .order_by(r.id).with_for_update(key_share=True)).all()


def rejection_errors(violations: Sequence[FieldViolation]) -> list[dict[str, str]]:
    """The ``errors`` of a ``rejected`` event: code, field, rule and text (never a value)."""
    return [{"code": code, "field": field, "rule": rule, "text": rule}
            for field, rule, code in violations]


def _reject(conn: Connection, message_id: str, item: IncomingRejection, now: datetime) -> None:
    outbox_event(conn, message_id=event_uuid(message_id, item.position), vendor=item.vendor,
                 brin=item.brin, event="rejected", source_id=item.source_id,
                 data={"errors": rejection_errors(item.violations), "position": item.position,
                       "operation": "aanleveren"},
                 at=now)


def _refuse(conn: Connection, message_id: str, report: Row[Any] | None,
            violations: Sequence[FieldViolation], now: datetime, *, event_id: str,
            position: str | None, vendor: str = "", brin: str = "",
            source_id: str | None = None) -> None:
    """The content check refused a report's new content: a ``rejected`` event, nothing queued.

    A known report keeps its earlier content and submissions (history ``content_refused``).
    """
    data: dict[str, Any] = {}
    operation = "aanleveren"
    if report is not None:
        vendor, brin, source_id = report.vendor, report.brin, report.source_id
        data.update(report_context(conn, report.id))
        if report.state == S.REGISTERED:
            operation = "wijzigen"
        codes = ",".join(sorted({code for _, _, code in violations}))
        history(conn, report.id, "content_refused", at=now, detail=f"refused: {codes}"[:200])
    data.update({"errors": rejection_errors(violations), "position": position,
                 "operation": operation})
    outbox_event(conn, message_id=event_id, vendor=vendor, brin=brin, event="rejected",
                 source_id=source_id, data=data, at=now)


_FIND = sa.select(t.reports).where(
    t.reports.c.vendor == sa.bindparam("vendor"), t.reports.c.brin == sa.bindparam("brin"),
    t.reports.c.source_id == sa.bindparam("source_id")).with_for_update(key_share=True)
_INBOX_HAS = sa.select(t.inbox_messages.c.id).where(
    t.inbox_messages.c.message_id == sa.bindparam("message_id"))
_SUBMISSION_INSERT = t.submissions.insert().returning(t.submissions.c.id)


def _find(conn: Connection, vendor: str, brin: str, source_id: str) -> Row[Any] | None:
    return conn.execute(_FIND, {"vendor": vendor, "brin": brin, "source_id": source_id}).first()


def accept_report(conn: Connection, message_id: str, item: IncomingReport, now: datetime,
                  check: ContentCheck | None,
                  agreements: RegionalAgreements = NO_AGREEMENTS) -> str:
    """Store one valid report by the rules above; returns NEW, UPDATED or UNCHANGED.

    ``check`` judges the merged content before anything is queued (``ContentCheck``);
    a refusal becomes a ``rejected`` event keyed by ``message_id``. ``agreements``
    decide whether an ``aanleveren`` is held instead of queued."""
    record = item.melding
    skey = student_key_for(conn, item.vendor, record.brin, record.student,
                           fallback=record.source_id, now=now)
    m = effective(conn, item.vendor, record, skey=skey)
    payload = encode(m)
    digest = content_hash(payload)
    report = _find(conn, item.vendor, m.brin, m.source_id)
    held = held_by(conn, item.vendor, m, agreements, skey=skey)
    would_change = report is None or (report.content_hash != digest
                                      and not _is_stale(report.payload, m.modified_at))
    violations = check(m) if check is not None and would_change and not m.deleted else ()
    if violations:
        position = item.position or f"source_id {m.source_id}"
        _refuse(conn, message_id, report, violations, now,
                event_id=event_uuid(message_id, position), position=item.position,
                vendor=item.vendor, brin=m.brin, source_id=m.source_id)
        return REFUSED
    if report is not None and not _is_stale(report.payload, m.modified_at):
        conn.execute(t.reports.update().where(t.reports.c.id == report.id).values(
            record=encode(record)))
    if report is None:
        report_id = insert_ignore(conn, t.reports, new_report_row(
            item.vendor, m, record, skey, payload, digest, S.HELD if held else S.QUEUED, now),
            ["vendor", "brin", "source_id"])
        if report_id is not None:
            received = history_row(report_id, "received", at=now,
                                   to_state=S.HELD if held else S.QUEUED)
            if held:
                history_many(conn, [received])
                _hold(conn, _find(conn, item.vendor, m.brin, m.source_id), None, payload,
                      held, now)
            else:   # both history rows in one statement
                add_submission(conn, report_id, skey, "aanleveren", payload, digest, now,
                               history_before=[received])
            return NEW
        report = _find(conn, item.vendor, m.brin, m.source_id)  # lost a concurrent insert
        if report is None:  # cannot happen: the conflicting row was committed
            raise RuntimeError("report vanished after an insert conflict")
    if report.content_hash == digest:
        return UNCHANGED
    if _is_stale(report.payload, m.modified_at):
        history(conn, report.id, "stale_version_ignored", at=now)
        return UNCHANGED
    return _change(conn, report, payload, digest, deleted=m.deleted, now=now, held_by=held)


def held_by(conn: Connection, vendor: str, melding: Verzuimmelding,
            agreements: RegionalAgreements, *, skey: str | None = None) -> str | None:
    """The gemeentecode whose regional agreement holds ``melding`` back, or None.

    A report without ``student.gemeentecode`` (an export of reports that does not
    carry it) takes the one of its student's latest registration that does
    (``skey``: the report's stored student key, which may be an alias)."""
    if not agreements.may_hold(melding) or melding.student.gemeentecode:
        return agreements.held_by(melding)
    r = t.registraties.c
    rows = conn.execute(sa.select(r.payload).where(
        r.vendor == vendor, r.brin == melding.brin,
        r.student_key == (skey or student_key(conn, melding))).order_by(r.datum.desc(), r.id.desc()))
    for (payload,) in rows:
        code = (payload.get("student") or {}).get("gemeentecode")
        if code:
            return agreements.held_by(melding, gemeentecode=code)
    return None


def _is_stale(stored: dict[str, Any], incoming: datetime | None) -> bool:
    raw = stored.get("modified_at")
    if incoming is None or not raw:
        return False
    return as_utc(incoming) < as_utc(datetime.fromisoformat(raw))


def _change(conn: Connection, report: Row[Any], payload: dict[str, Any], digest: str, *,
            deleted: bool, now: datetime, held_by: str | None = None) -> str:
    """``held_by``: the gemeentecode whose regional agreement holds the new content
    back from a first sending (``aanleveren``), else None."""
    sub = latest_submission(conn, report.id)
    _store_payload(conn, report.id, payload, digest, now)
    if report.state == S.HELD:
        return _change_held(conn, report, payload, digest, deleted=deleted, now=now,
                            held_by=held_by)
    if sub is not None and sub.state == S.PENDING and sub.attempts == 0:
        return _replace_pending(conn, report, sub, payload, digest, deleted=deleted, now=now,
                                held_by=held_by)
    if sub is not None and sub.state not in S.TERMINAL:
        history(conn, report.id, "content_deferred", at=now, submission_id=sub.id,
                detail=f"after {sub.operation} submission {sub.id}")
        return UPDATED
    if report.state == S.REGISTERED:
        op = "intrekken" if deleted else "wijzigen"
        add_submission(conn, report.id, report.student_key, op, payload, digest, now)
        return UPDATED
    if report.state == S.REJECTED and not deleted:
        if held_by:
            _hold(conn, report, report.state, payload, held_by, now)
            return UPDATED
        set_report_state(conn, report.id, report.state, S.QUEUED, now, "resubmitted")
        add_submission(conn, report.id, report.student_key, "aanleveren", payload, digest, now)
        return UPDATED
    history(conn, report.id, "content_stored", at=now, detail=f"report {report.state}")
    return UNCHANGED


def _hold(conn: Connection, report: Row[Any] | None, from_state: str | None,
          payload: dict[str, Any], gemeentecode: str, now: datetime) -> None:
    """Hold ``report`` (not sent: regional agreement of ``gemeentecode``) and raise its
    ``regionale_afspraak`` signal; ``from_state`` None: the report was just stored held."""
    if report is None:  # cannot happen: the caller stored it in this transaction
        raise RuntimeError("held report vanished")
    if from_state is not None:
        set_report_state(conn, report.id, from_state, S.HELD, now, "held")
    history(conn, report.id, "regional_agreement", at=now,
            detail=f"gemeente {gemeentecode} wants no V4 reports: held, not sent")
    _signals.raise_held(conn, report, payload, gemeentecode, now)


def _change_held(conn: Connection, report: Row[Any], payload: dict[str, Any], digest: str, *,
                 deleted: bool, now: datetime, held_by: str | None) -> str:
    """A new version of a held report: withdrawn when deleted, still held, or released."""
    if deleted:
        set_report_state(conn, report.id, S.HELD, S.WITHDRAWN, now, "cancelled")
        _signals.close_held(conn, report, now)
        return UPDATED
    if held_by:
        history(conn, report.id, "content_stored", at=now,
                detail=f"report held (gemeente {held_by})")
        return UPDATED
    release(conn, report, payload, digest, now)
    return UPDATED


def release(conn: Connection, report: Row[Any], payload: dict[str, Any], digest: str,
            now: datetime) -> int:
    """A held report may go now: ``queued`` with a fresh ``aanleveren``; closes its signal."""
    set_report_state(conn, report.id, S.HELD, S.QUEUED, now, "released")
    _signals.close_held(conn, report, now)
    return add_submission(conn, report.id, report.student_key, "aanleveren", payload, digest,
                          now)


def _replace_pending(conn: Connection, report: Row[Any], sub: Row[Any],
                     payload: dict[str, Any], digest: str, *, deleted: bool,
                     now: datetime, held_by: str | None = None) -> str:
    if sub.operation == "aanleveren" and held_by and not deleted:
        S.check_submission(sub.state, S.CANCELLED, row_id=sub.id)
        conn.execute(t.submissions.update().where(t.submissions.c.id == sub.id).values(
            state=S.CANCELLED, last_error="held by a regional agreement before sending",
            updated_at=now))
        _hold(conn, report, report.state, payload, held_by, now)
        return UPDATED
    if sub.operation == "aanleveren" and deleted:
        S.check_submission(sub.state, S.CANCELLED, row_id=sub.id)
        conn.execute(t.submissions.update().where(t.submissions.c.id == sub.id).values(
            state=S.CANCELLED, last_error="withdrawn by the SIS before sending",
            updated_at=now))
        set_report_state(conn, report.id, report.state, S.WITHDRAWN, now, "cancelled",
                         submission_id=sub.id)
        return UPDATED
    operation = sub.operation
    if sub.operation != "aanleveren":
        operation = "intrekken" if deleted else "wijzigen"
    conn.execute(t.submissions.update().where(t.submissions.c.id == sub.id).values(
        payload=payload, content_hash=digest, operation=operation, updated_at=now))
    history(conn, report.id, "payload_replaced", at=now, submission_id=sub.id,
            detail=f"{operation} submission {sub.id}")
    return UPDATED


def _store_payload(conn: Connection, report_id: int, payload: dict[str, Any], digest: str,
                   now: datetime) -> None:
    conn.execute(t.reports.update().where(t.reports.c.id == report_id).values(
        payload=payload, content_hash=digest, verzuimsoort=payload["verzuimsoort"],
        updated_at=now))


def latest_submission(conn: Connection, report_id: int) -> Row[Any] | None:
    """The report's newest submission, locked for update (PostgreSQL)."""
    return conn.execute(
        sa.select(t.submissions).where(t.submissions.c.report_id == report_id)
        .order_by(t.submissions.c.id.desc()).limit(1).with_for_update(key_share=True)).first()


def add_submission(conn: Connection, report_id: int, skey: str, operation: str,
                   payload: dict[str, Any], digest: str, now: datetime,
                   history_before: Sequence[dict[str, Any]] = ()) -> int:
    """Queue a new logical submission with a fresh document id, due now.
    ``history_before``: history rows the caller held back, written first, with this
    one's, in one statement."""
    sub_id = conn.execute(_SUBMISSION_INSERT, new_submission_row(
        report_id, skey, operation, new_document_id(), payload, digest, now)).scalar_one()
    history_many(conn, [*history_before, queued_note(report_id, sub_id, operation, now)])
    return int(sub_id)


def new_report_row(vendor: str, content: Verzuimmelding, record: Verzuimmelding, skey: str,
                   payload: dict[str, Any], digest: str, state: str,
                   now: datetime) -> dict[str, Any]:
    """The columns of a new report: ``content`` merged, ``record`` as the SIS sent it."""
    return dict(vendor=vendor, brin=content.brin, source_id=content.source_id,
                student_key=skey, verzuimsoort=content.verzuimsoort.value, payload=payload,
                record=encode(record), content_hash=digest, state=state, duo_status=None,
                meldingsnummer=None, laatste_mutatie=None, created_at=now, updated_at=now)


def new_submission_row(report_id: int, skey: str, operation: str, document_id: str,
                       payload: dict[str, Any], digest: str, now: datetime) -> dict[str, Any]:
    """The columns of a new logical submission, pending and due now."""
    return {"report_id": report_id, "student_key": skey, "operation": operation,
            "document_id": document_id, "payload": payload, "content_hash": digest,
            "state": S.PENDING, "attempts": 0, "next_attempt_at": now, "last_error": None,
            "created_at": now, "updated_at": now}


def queued_note(report_id: int, submission_id: int, operation: str,
                now: datetime) -> dict[str, Any]:
    """The history row of a submission queued."""
    return history_row(report_id, "submission_queued", at=now, submission_id=submission_id,
                       to_state=S.PENDING, detail=f"{operation} submission {submission_id}")


@functools.cache
def report_update(keys: tuple[str, ...]) -> sa.Update:
    """``UPDATE reports SET state, updated_at, <keys>`` by id, built once per set of keys."""
    columns = ("state", "updated_at", *keys)
    return t.reports.update().where(t.reports.c.id == sa.bindparam("b_id")).values(
        {key: sa.bindparam(f"b_{key}") for key in columns})


def set_report_state(conn: Connection, report_id: int, from_state: str, to_state: str,
                     now: datetime, event: str, *, submission_id: int | None = None,
                     history_before: Sequence[dict[str, Any]] = (), **values: Any) -> None:
    """Move a report (checked against :data:`~adapter.store.states.REPORT_TRANSITIONS`).
    ``history_before``: history rows (:func:`~adapter.store.common.history_row`) the
    caller held back, written before this move's own, in the same statement."""
    S.check_report(from_state, to_state, row_id=report_id)
    conn.execute(report_update(tuple(sorted(values))), {
        "b_id": report_id, "b_state": to_state, "b_updated_at": now,
        **{f"b_{key}": value for key, value in values.items()}})
    rows = list(history_before)
    if from_state != to_state:
        rows.append(history_row(report_id, event, at=now, from_state=from_state,
                                to_state=to_state, submission_id=submission_id))
    history_many(conn, rows)
