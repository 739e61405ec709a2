"""``meldingen clone``: a follow-up (vervolgmelding) made from a registered report.

The follow-up copies the earlier report's student, verzuimsoort, melder,
school and texts; it begins the day after the earlier einddatum unless told
otherwise, has ``source_id`` ``<earlier source_id>/vervolg-<n>`` (the first
free ``n``) and ``vervolg_op`` = the earlier report's ``source_id``, which the
store resolves to DUO's meldingsnummer when it sends it
(:mod:`adapter.store.followups`). Its days come from the student's
registrations like any report's; the earlier report's own days and
attachments are not copied.

Everything happens in one transaction and through the accept path
(:func:`adapter.store.accept.accept_report`): a new ``queued`` report with an
``aanleveren`` submission, so the daemon sends it and the SIS hears of it
through the usual ``registered`` / ``rejected`` events. A clone that breaks
DUO's rules (:func:`adapter.domain.rules.check_melding`) or the cadence for
follow-ups (AD023) is refused before anything is stored. Regional agreements
(``[[municipalities]]``) do not hold a clone: it continues a report DUO
registered, and the operator asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.model import Verzuimsoort
from adapter.domain.rules import check_melding
from adapter.errors import AdapterError
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import NEW, accept_report
from adapter.store.api import ContentCheck, IncomingReport
from adapter.store.common import decode, history
from adapter.store.followups import CADENCE_DAYS, too_soon
from adapter.store.registraties import effective

#: Verzuimsoorten whose reports need an einddatum (VZ009): a clone of one needs --einddatum.
NEEDS_EINDDATUM = frozenset({Verzuimsoort.V3, Verzuimsoort.V4})


class CloneRefused(AdapterError):
    """The follow-up cannot be made; the message is one line, ids and codes only."""


@dataclass(frozen=True)
class Cloned:
    """The new report: its internal id and its ``source_id``."""

    report_id: int
    source_id: str


def clone_report(conn: Connection, report_id: int, *, begindatum: date | None,
                 einddatum: date | None, today: date, now: datetime,
                 check: ContentCheck | None = None) -> Cloned:
    """Queue a follow-up of report ``report_id``; raise :class:`CloneRefused` when not possible.

    ``check`` judges the merged follow-up as intake judges a report (DUO's schema
    and rules); without one, DUO's rules alone."""
    r = t.reports.c
    earlier = conn.execute(sa.select(t.reports).where(r.id == report_id)
                           .with_for_update(key_share=True)).first()
    if earlier is None:
        raise CloneRefused(f"no report with id {report_id}")
    if earlier.origin == "web":
        raise CloneRefused(f"report {report_id} was typed into DUO's web counter: the adapter "
                           f"holds no content to continue it")
    if earlier.state != S.REGISTERED:
        raise CloneRefused(f"report {report_id} is {earlier.state}, not registered at DUO: "
                           f"only a registered report can be continued")
    record = decode(earlier.record if earlier.record is not None else earlier.payload)
    if einddatum is None and record.verzuimsoort in NEEDS_EINDDATUM:
        raise CloneRefused(f"report {report_id} is {record.verzuimsoort.value}, whose follow-up "
                           f"needs an einddatum: give --einddatum")
    if begindatum is None:
        if record.einddatum is None:
            raise CloneRefused(f"report {report_id} has no einddatum to follow: "
                               f"give --begindatum")
        begindatum = record.einddatum + timedelta(days=1)
    if too_soon(begindatum, record.begindatum):
        raise CloneRefused(f"AD023: a follow-up of report {report_id} must begin at least "
                           f"{CADENCE_DAYS} calendar days after its begindatum")
    source_id = _free_source_id(conn, earlier.vendor, earlier.brin, record.source_id)
    follow_up = replace(record, source_id=source_id, begindatum=begindatum, einddatum=einddatum,
                        vervolg_op=record.source_id, verzuimdagen=(), bijlagen=(),
                        modified_at=now, deleted=False)
    merged = effective(conn, earlier.vendor, follow_up)
    found = ([(v.field, v.rule, v.code) for v in check_melding(merged, today=today)]
             if check is None else list(check(merged)))
    if found:
        codes = ", ".join(dict.fromkeys(code for _, _, code in found))
        fields = ", ".join(dict.fromkeys(field for field, _, _ in found))
        raise CloneRefused(f"the follow-up of report {report_id} breaks DUO's rules "
                           f"{codes} (fields: {fields})")
    if accept_report(conn, f"clone:{report_id}:{source_id}",
                     IncomingReport(vendor=earlier.vendor, melding=follow_up), now,
                     None) != NEW:  # cannot happen: the source_id was free under the lock
        raise CloneRefused(f"a report {source_id} appeared meanwhile; try again")
    new_id = conn.execute(sa.select(r.id).where(
        r.vendor == earlier.vendor, r.brin == earlier.brin, r.source_id == source_id)
    ).scalar_one()
    history(conn, new_id, "cloned", at=now, detail=f"follow-up of report {report_id}")
    history(conn, report_id, "follow_up_cloned", at=now, detail=f"follow-up report {new_id}")
    return Cloned(report_id=int(new_id), source_id=source_id)


def _free_source_id(conn: Connection, vendor: str, brin: str, source_id: str) -> str:
    """``<source_id>/vervolg-<n>`` with the first ``n`` (1, 2, …) no report of the school has."""
    r = t.reports.c
    prefix = f"{source_id}/vervolg-"
    taken = set(conn.execute(sa.select(r.source_id).where(
        r.vendor == vendor, r.brin == brin, r.source_id.startswith(prefix, autoescape=True))
    ).scalars())
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"
