"""Registrations in the store, and a report's content merged from them.

A report's effective content (what is sent to DUO) is the record the SIS sent
with its verzuimdagspecificatie merged from the counting registrations of the
same student (vendor, BRIN, student key; one key per SIS ``leerlingnummer``, see
:mod:`adapter.store.students`) — :func:`adapter.domain.dagspec.merge_days`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from adapter.domain.codec import registratie_from_dict
from adapter.domain.dagspec import merge_days
from adapter.domain.model import Registratie, Verzuimmelding
from adapter.store import schema as t
from adapter.store.common import decode
from adapter.store.keylist import in_list
from adapter.store.registraties_bulk import Key, batched
from adapter.store.students import student_key_for, student_keys

#: Students whose registrations are loaded together when reports are refreshed.
REFRESH_STUDENTS = 16


_r = t.registraties.c
# Built once (the hot paths run them for every report): no statement construction and
# no cache key computed per call.
_OF_STUDENT = (sa.select(_r.payload)
               .where(_r.vendor == sa.bindparam("vendor"), _r.brin == sa.bindparam("brin"),
                      _r.student_key == sa.bindparam("skey"))
               .order_by(_r.datum, _r.id))
_OF_STUDENTS = (sa.select(_r.student_key, _r.payload)
                .where(_r.vendor == sa.bindparam("vendor"), _r.brin == sa.bindparam("brin"),
                       in_list(_r.student_key, "skeys"))
                .order_by(_r.datum, _r.id))
_REPORTS_OF_STUDENTS = (sa.select(t.reports)
                        .where(t.reports.c.vendor == sa.bindparam("vendor"),
                               t.reports.c.brin == sa.bindparam("brin"),
                               in_list(t.reports.c.student_key, "skeys"))
                        .order_by(t.reports.c.id).with_for_update(key_share=True))
_CONTEXT = sa.select(t.reports.c.vendor, t.reports.c.student_key, t.reports.c.payload).where(
    t.reports.c.id == sa.bindparam("report_id"))


def registraties_of(conn: Connection, vendor: str, brin: str, skey: str) -> list[Registratie]:
    rows = conn.execute(_OF_STUDENT, {"vendor": vendor, "brin": brin, "skey": skey}).all()
    return [registratie_from_dict(dict(row.payload)) for row in rows]


def effective(conn: Connection, vendor: str, record: Verzuimmelding, *,
              skey: str | None = None) -> Verzuimmelding:
    """The record with its days merged from the student's counting registrations
    (``skey``: the record's student key when the caller resolved it already)."""
    if skey is None:
        skey = student_key_for(conn, vendor, record.brin, record.student,
                               fallback=record.source_id)
    return merged(record, registraties_of(conn, vendor, record.brin, skey))


def merged(record: Verzuimmelding, regs: list[Registratie]) -> Verzuimmelding:
    """``record`` with its days merged from ``regs`` (all of its student's registrations)."""
    if not regs:
        return record
    days, _ = merge_days(record, regs)
    return replace(record, verzuimdagen=days)


def refresh_reports(conn: Connection, touched: Iterable[Key], *,
                    skip: set[Key]) -> Iterator[tuple[Row[Any], Verzuimmelding]]:
    """The touched students' reports with their freshly merged content, in (vendor,
    BRIN, student key, id) order (``skip``: reports already done, by business key).

    A bounded number of statements per call: the reports of up to
    :data:`~adapter.store.registraties_bulk.BATCH` students per query (locked),
    then the registrations of up to :data:`REFRESH_STUDENTS` students of those
    reports per query, so memory holds a few students' registrations at a time.
    """
    students: dict[tuple[str, str], list[str]] = {}
    for vendor, brin, skey in sorted(set(touched)):
        students.setdefault((vendor, brin), []).append(skey)
    rows: list[Row[Any]] = []
    for (vendor, brin), skeys in students.items():
        for batch in batched(skeys):
            rows += conn.execute(_REPORTS_OF_STUDENTS, {
                "vendor": vendor, "brin": brin, "skeys": list(batch)}).all()
    rows = sorted((row for row in rows if (row.vendor, row.brin, row.source_id) not in skip),
                  key=lambda row: (row.vendor, row.brin, row.student_key, row.id))
    for group in _by_students(rows):
        records = [(row, decode(row.record if row.record is not None else row.payload))
                   for row in group]
        skeys = student_keys(conn, group[0].vendor, [
            (record.brin, record.student, record.source_id) for _, record in records])
        regs = registraties_by_student(conn, group[0].vendor, group[0].brin, set(skeys))
        for (row, record), skey in zip(records, skeys):
            yield row, merged(record, regs.get(skey, []))


def _by_students(rows: list[Row[Any]]) -> Iterator[list[Row[Any]]]:
    """Consecutive runs of ``rows`` of one vendor and BRIN, at most REFRESH_STUDENTS students."""
    group: list[Row[Any]] = []
    seen: set[str] = set()
    for row in rows:
        if group and ((row.vendor, row.brin) != (group[0].vendor, group[0].brin) or (
                row.student_key not in seen and len(seen) >= REFRESH_STUDENTS)):
            yield group
            group, seen = [], set()
        group.append(row)
        seen.add(row.student_key)
    if group:
        yield group


def registraties_by_student(conn: Connection, vendor: str, brin: str, skeys: set[str]
                             ) -> dict[str, list[Registratie]]:
    """Every registration of these students, per student key, in (datum, id) order."""
    out: dict[str, list[Registratie]] = {}
    for batch in batched(sorted(skeys)):
        rows = conn.execute(_OF_STUDENTS, {"vendor": vendor, "brin": brin,
                                           "skeys": list(batch)}).all()
        for row in rows:
            out.setdefault(row.student_key, []).append(registratie_from_dict(dict(row.payload)))
    return out


def report_context(conn: Connection, report_id: int, *, row: Any = None,
                   regs: list[Registratie] | None = None) -> dict[str, Any]:
    """What the SIS needs to match an event to its own records (no free text).

    ``verzuimsoort``, ``begindatum``, ``einddatum``, ``leerlingnummer`` and
    ``registratie_ids``; keys without a value are left out. ``row``: the report's
    row when the caller read it already in this transaction (its ``vendor``,
    ``student_key`` and ``payload`` are used; not read again). ``regs``: its
    student's registrations when the caller read them already in this transaction
    (:func:`registraties_by_student`).
    """
    if row is None:
        row = conn.execute(_CONTEXT, {"report_id": report_id}).first()
        if row is None:
            return {}
    # The report's own student key: it was resolved (aliases included) when stored.
    if regs is None:
        regs = registraties_of(conn, row.vendor, row.payload["brin"], row.student_key)
    if not regs:
        # Nothing to merge: the stored payload (melding_to_dict's form) names the fields
        # as the event carries them, without decoding the whole report (runs per event).
        payload = row.payload
        return _context(payload["verzuimsoort"], payload["begindatum"],
                        payload.get("einddatum"),
                        (payload.get("student") or {}).get("leerlingnummer"), ())
    melding = decode(row.payload)
    return _context(melding.verzuimsoort.value, melding.begindatum.isoformat(),
                    melding.einddatum.isoformat() if melding.einddatum else None,
                    melding.student.leerlingnummer, merge_days(melding, regs)[1])


def _context(verzuimsoort: str, begindatum: str, einddatum: str | None,
             leerlingnummer: str | None, registratie_ids: Iterable[str]) -> dict[str, Any]:
    context: dict[str, Any] = {
        "verzuimsoort": verzuimsoort, "begindatum": begindatum, "einddatum": einddatum,
        "leerlingnummer": leerlingnummer, "registratie_ids": list(registratie_ids),
    }
    return {k: v for k, v in context.items() if v not in (None, [])}
