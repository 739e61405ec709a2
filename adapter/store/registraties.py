"""Registrations in the store, and a report's content merged from them.

A report's effective content (what is sent to DUO) is the record the SIS sent
with its verzuimdagspecificatie merged from the counting registrations of the
same student (vendor, BRIN, student key) — :func:`adapter.domain.dagspec.merge_days`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from adapter.domain.codec import registratie_from_dict, registratie_to_dict
from adapter.domain.dagspec import merge_days
from adapter.domain.model import Registratie, Verzuimmelding
from adapter.store import schema as t
from adapter.store.api import IncomingRegistratie
from adapter.store.common import as_utc, content_hash, decode, student_key_of

Key = tuple[str, str, str]  # vendor, BRIN, student key


def upsert_registratie(conn: Connection, item: IncomingRegistratie, now: datetime) -> set[Key]:
    """Store a registration (newest ``modified_at`` wins); the students whose days changed."""
    reg = item.registratie
    skey = student_key_of(reg.brin, reg.student, fallback=reg.source_id)
    payload = registratie_to_dict(reg)
    digest = content_hash(payload)
    r = t.registraties.c
    row = conn.execute(sa.select(t.registraties).where(
        r.vendor == item.vendor, r.brin == reg.brin, r.source_id == reg.source_id)
        .with_for_update()).first()
    modified = as_utc(reg.modified_at) if reg.modified_at else None
    if row is None:
        conn.execute(t.registraties.insert().values(
            vendor=item.vendor, brin=reg.brin, source_id=reg.source_id, student_key=skey,
            datum=reg.datum, payload=payload, content_hash=digest, modified_at=modified,
            received_at=now, updated_at=now))
        return {(item.vendor, reg.brin, skey)}
    if row.content_hash == digest:
        return set()
    if modified is not None and row.modified_at is not None and modified < row.modified_at:
        return set()  # an older version arrived late
    conn.execute(t.registraties.update().where(r.id == row.id).values(
        student_key=skey, datum=reg.datum, payload=payload, content_hash=digest,
        modified_at=modified, updated_at=now))
    # Both students when a correction moved the registration to another one.
    return {(item.vendor, reg.brin, skey), (item.vendor, reg.brin, row.student_key)}


def registraties_of(conn: Connection, vendor: str, brin: str, skey: str) -> list[Registratie]:
    r = t.registraties.c
    rows = conn.execute(sa.select(r.payload).where(
        r.vendor == vendor, r.brin == brin, r.student_key == skey).order_by(r.datum, r.id)).all()
    return [registratie_from_dict(dict(row.payload)) for row in rows]


def effective(conn: Connection, vendor: str, record: Verzuimmelding) -> Verzuimmelding:
    """The record with its days merged from the student's counting registrations."""
    skey = student_key_of(record.brin, record.student, fallback=record.source_id)
    regs = registraties_of(conn, vendor, record.brin, skey)
    if not regs:
        return record
    days, _ = merge_days(record, regs)
    return replace(record, verzuimdagen=days)


def registratie_ids(conn: Connection, vendor: str, melding: Verzuimmelding) -> list[str]:
    """Source ids of the registrations merged into this report (for events to the SIS)."""
    skey = student_key_of(melding.brin, melding.student, fallback=melding.source_id)
    return list(merge_days(melding, registraties_of(conn, vendor, melding.brin, skey))[1])


def refresh_reports(conn: Connection, vendor: str, brin: str, skey: str, *,
                    skip: set[Key]) -> Iterator[tuple[Row[Any], Verzuimmelding]]:
    """The student's reports with their freshly merged content (``skip``: already done)."""
    rp = t.reports.c
    rows = conn.execute(sa.select(t.reports).where(
        rp.vendor == vendor, rp.brin == brin, rp.student_key == skey)
        .order_by(rp.id).with_for_update(key_share=True)).all()
    for row in rows:
        if (row.vendor, row.brin, row.source_id) in skip:
            continue
        record = decode(row.record if row.record is not None else row.payload)
        yield row, effective(conn, vendor, record)


def report_context(conn: Connection, report_id: int) -> dict[str, Any]:
    """What the SIS needs to match an event to its own records (no free text).

    ``verzuimsoort``, ``begindatum``, ``einddatum``, ``leerlingnummer`` and
    ``registratie_ids``; keys without a value are left out.
    """
    row = conn.execute(sa.select(t.reports.c.vendor, t.reports.c.payload)
                       .where(t.reports.c.id == report_id)).first()
    if row is None:
        return {}
    melding = decode(row.payload)
    context: dict[str, Any] = {
        "verzuimsoort": melding.verzuimsoort.value,
        "begindatum": melding.begindatum.isoformat(),
        "einddatum": melding.einddatum.isoformat() if melding.einddatum else None,
        "leerlingnummer": melding.student.leerlingnummer,
        "registratie_ids": registratie_ids(conn, row.vendor, melding),
    }
    return {k: v for k, v in context.items() if v not in (None, [])}


def retire_missing_days(conn: Connection, vendor: str, items: list[IncomingRegistratie],
                        now: datetime) -> set[Key]:
    """A registration split per day (``<id>@<date>``) is replaced as a whole.

    When a message carries a newer version of ``<id>`` and no longer lists some
    of its days (the SIS shortened the period), those days are marked deleted,
    so they stop counting. Returns the students whose days changed.
    """
    groups: dict[tuple[str, str], tuple[set[str], datetime | None]] = {}
    for item in items:
        reg = item.registratie
        if "@" not in reg.source_id:
            continue
        base = reg.source_id.rsplit("@", 1)[0]
        present, newest = groups.get((reg.brin, base), (set(), None))
        present.add(reg.source_id)
        stamp = as_utc(reg.modified_at) if reg.modified_at else None
        if stamp is not None and (newest is None or stamp > newest):
            newest = stamp
        groups[(reg.brin, base)] = (present, newest)
    touched: set[Key] = set()
    r = t.registraties.c
    for (brin, base), (present, newest) in sorted(groups.items()):
        escaped = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = conn.execute(sa.select(t.registraties).where(
            r.vendor == vendor, r.brin == brin, r.source_id.like(f"{escaped}@%", escape="\\"),
            r.source_id.not_in(present)).with_for_update()).all()
        for row in rows:
            if row.payload.get("deleted") or (
                    newest is not None and row.modified_at is not None
                    and row.modified_at > newest):
                continue
            payload = {**row.payload, "deleted": True}
            conn.execute(t.registraties.update().where(r.id == row.id).values(
                payload=payload, content_hash=content_hash(payload), updated_at=now))
            touched.add((vendor, brin, row.student_key))
    return touched
