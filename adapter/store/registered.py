"""Several registrations in one transaction (the submitter's write-behind,
:mod:`adapter.pipeline.outcomes`).

The result is that of :func:`adapter.store.lifecycle.mark_registered` for each, in
submission id order. The common case (every one an ``aanleveren`` whose report did not
change while it was in flight, and no report typed into DUO's web counter under its new
meldingsnummer) is written set-based: one statement per table for all of them, their
students' registrations read once. Anything else goes one by one through
``mark_registered``, in the same transaction. Every check of a single outcome is made
(the claim is still ours, the transitions are legal); one failing fails them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import report_update
from adapter.store.api import Registration
from adapter.store.common import history_many, history_row
from adapter.store.keylist import in_list
from adapter.store.lifecycle import (
    JOINED_WITH_REPORT,
    UnknownSubmission,
    check_move,
    mark_registered,
    move_note,
    record_exchanges,
    registered_event,
)
from adapter.store.outbox import outbox_events
from adapter.store.registraties import registraties_by_student
from adapter.store.terugmeldingen import WEB

_sub, _rep = t.submissions, t.reports
_JOINED_MANY = (sa.select(*JOINED_WITH_REPORT.selected_columns)
                .select_from(_sub.join(_rep, _sub.c.report_id == _rep.c.id))
                .where(in_list(_sub.c.id, "sids")).order_by(_sub.c.id)
                .with_for_update(of=_sub, key_share=True))
# PostgreSQL's lock order (reports, then submissions), in report id order as a feedback
# page locks them, so two such transactions cannot deadlock on them.
_LOCK_REPORTS = (sa.select(_rep.c.id)
                 .where(_rep.c.id.in_(sa.select(_sub.c.report_id)
                                      .where(in_list(_sub.c.id, "sids"))))
                 .order_by(_rep.c.id).with_for_update(key_share=True))
_WEB_NUMBERS = sa.select(_rep.c.brin, _rep.c.meldingsnummer).where(
    _rep.c.origin == WEB, in_list(_rep.c.meldingsnummer, "numbers"))
_DONE = _sub.update().where(in_list(_sub.c.id, "sids")).values(
    state=S.DONE, last_error=None, updated_at=sa.bindparam("b_now"))
_REGISTERED = report_update(("duo_status", "laatste_mutatie", "meldingsnummer"))


def mark_registered_many(conn: Connection, registrations: Sequence[Registration], *,
                         now: datetime, owner: str | None = None) -> None:
    """Store ``registrations`` (in submission id order, each submission once)."""
    sids = [r.submission_id for r in registrations]
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_REPORTS, {"sids": sids})
    record_exchanges(conn, [x for r in registrations for x in r.exchanges])
    rows = {row.id: row for row in conn.execute(_JOINED_MANY, {"sids": sids})}
    for sid in sids:
        row = rows.get(sid)
        if row is None:
            raise UnknownSubmission(f"no submission {sid}")
        check_move(row, S.DONE, owner)
    if not _common(conn, registrations, rows):
        for r in registrations:
            mark_registered(conn, r.submission_id, meldingsnummer=r.meldingsnummer,
                            status=r.status, laatste_mutatie=r.laatste_mutatie, now=now,
                            owner=owner)
        return
    _write(conn, registrations, rows, now)


def _common(conn: Connection, registrations: Sequence[Registration],
            rows: dict[int, Row[Any]]) -> bool:
    """Whether every one is a plain first registration (see the module's docstring)."""
    if any(row.operation != "aanleveren" or row.report_content_hash != row.content_hash
           for row in rows.values()):
        return False
    numbers = sorted({r.meldingsnummer for r in registrations})
    web = {(b, n) for b, n in conn.execute(_WEB_NUMBERS, {"numbers": numbers})}
    return not any((rows[r.submission_id].brin, r.meldingsnummer) in web for r in registrations)


def _write(conn: Connection, registrations: Sequence[Registration], rows: dict[int, Row[Any]],
           now: datetime) -> None:
    groups: dict[tuple[str, str], set[str]] = {}
    for row in rows.values():
        S.check_report(row.report_state, S.REGISTERED, row_id=row.report_id)
        groups.setdefault((row.vendor, row.brin), set()).add(row.report_student_key)
    regs = {(vendor, brin, key): found
            for (vendor, brin), keys in groups.items()
            for key, found in registraties_by_student(conn, vendor, brin, keys).items()}
    conn.execute(_DONE, {"sids": [r.submission_id for r in registrations], "b_now": now})
    conn.execute(_REGISTERED, [{
        "b_id": rows[r.submission_id].report_id, "b_state": S.REGISTERED, "b_updated_at": now,
        "b_duo_status": r.status, "b_laatste_mutatie": r.laatste_mutatie,
        "b_meldingsnummer": r.meldingsnummer} for r in registrations])
    history: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for r in registrations:
        row = rows[r.submission_id]
        history.append(move_note(row, S.DONE, "registered", now))
        if row.report_state != S.REGISTERED:
            history.append(history_row(row.report_id, "report_registered", at=now,
                                       from_state=row.report_state, to_state=S.REGISTERED,
                                       submission_id=row.id))
        events.append(registered_event(conn, row, r.meldingsnummer, r.status, now,
                                       regs.get((row.vendor, row.brin, row.report_student_key), [])))
    history_many(conn, history)
    outbox_events(conn, events)
