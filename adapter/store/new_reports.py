"""A run of messages that each bring one new report, stored set-based
(``Store.accept_many``, the batched intake).

The result is that of :func:`adapter.store.accept.accept` for each message, in order:
an inbox row, a ``queued`` report, a pending ``aanleveren`` with a fresh document id,
and the same history rows; ids rise in message order, so a student's reports keep their
order. It is taken only when every message of the run is the plain case: one
:class:`~adapter.store.api.IncomingReport`, a message id not in the inbox, a business
key no report has, none named twice in the run, the content check passes, and no
regional agreement holds it. Anything else (:func:`accept_new` answers None) goes
through ``accept`` message by message, as before; nothing was written that it would
not write itself (the student aliases of first-seen leerlingnummers).

What it saves: a few statements for the whole run, not six per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.model import Verzuimmelding
from adapter.domain.regions import RegionalAgreements
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import held_by, new_report_row, new_submission_row, queued_note
from adapter.store.api import AcceptResult, ContentCheck, IncomingReport
from adapter.store.bulk import insert_rows
from adapter.store.common import content_hash, encode, history_many, history_row, new_document_id
from adapter.store.keylist import in_list
from adapter.store.registraties import merged, registraties_by_student
from adapter.store.students import student_keys

#: (message_id, vendor, routing_key, items), as ``Store.accept_many`` takes them.
Message = tuple[str, str, str, Sequence[Any]]

_r, _i = t.reports.c, t.inbox_messages.c
_INBOX_HAS = sa.select(_i.message_id).where(
    in_list(_i.message_id, "ids"))
# Reports by business key, a school at a time: one statement text for any number of
# keys on PostgreSQL (the source ids one array), which psycopg prepares and the server
# plans once. A ``(vendor, brin, source_id) IN (…)`` of 32 keys took 96 parameters, a
# new text per length, and 1.3 ms of the server's planning each time (round 16).
_BY_SCHOOL = sa.select(_r.id, _r.source_id).where(
    _r.vendor == sa.bindparam("vendor"), _r.brin == sa.bindparam("brin"),
    in_list(_r.source_id, "source_ids"))
_SUBMISSION_IDS = sa.select(t.submissions.c.id, t.submissions.c.document_id).where(
    in_list(t.submissions.c.document_id, "ids"))
_NEW = AcceptResult(duplicate_message=False, new_reports=1, unchanged_reports=0, rejections=0)


def accept_new(conn: Connection, messages: Sequence[Message], *, now: datetime,
               check: ContentCheck | None, agreements: RegionalAgreements
               ) -> list[AcceptResult] | None:
    """Store the run set-based and answer one result per message; None when it is not
    the plain case (see the module's docstring): then nothing of it is stored here."""
    items = [_lone_report(items) for _, _, _, items in messages]
    ids = [message_id for message_id, *_ in messages]
    reports = [item for item in items if item is not None]
    if len(reports) < len(messages) or len(set(ids)) < len(ids):
        return None
    keys = [(r.vendor, r.melding.brin, r.melding.source_id) for r in reports]
    if len(set(keys)) < len(keys) or conn.execute(_INBOX_HAS, {"ids": ids}).first():
        return None
    if _report_ids(conn, keys):
        return None
    skeys = _student_keys(conn, reports, now)
    contents = _merged(conn, reports, skeys)
    for report, content, skey in zip(reports, contents, skeys):
        if content.deleted or held_by(conn, report.vendor, content, agreements, skey=skey):
            return None
        if check is not None and check(content):
            return None
    _write(conn, messages, reports, contents, skeys, now)
    return [_NEW] * len(messages)


def _report_ids(conn: Connection, keys: Sequence[tuple[str, str, str]]
                ) -> dict[tuple[str, str, str], int]:
    """The stored reports among business keys ``(vendor, brin, source_id)``, by key."""
    schools: dict[tuple[str, str], list[str]] = {}
    for vendor, brin, source_id in keys:
        schools.setdefault((vendor, brin), []).append(source_id)
    found: dict[tuple[str, str, str], int] = {}
    for (vendor, brin), source_ids in schools.items():
        for row in conn.execute(_BY_SCHOOL, {"vendor": vendor, "brin": brin,
                                             "source_ids": source_ids}):
            found[(vendor, brin, row.source_id)] = row.id
    return found


def _lone_report(items: Sequence[Any]) -> IncomingReport | None:
    if len(items) == 1 and isinstance(items[0], IncomingReport):
        return items[0]
    return None


def _student_keys(conn: Connection, reports: list[IncomingReport], now: datetime) -> list[str]:
    """Each report's student key, in order (aliases per vendor, the first naming one
    deciding, as one message after the other would)."""
    out: list[str | None] = [None] * len(reports)
    by_vendor: dict[str, list[int]] = {}
    for n, report in enumerate(reports):
        by_vendor.setdefault(report.vendor, []).append(n)
    for vendor, positions in by_vendor.items():
        found = student_keys(conn, vendor, [
            (reports[n].melding.brin, reports[n].melding.student, reports[n].melding.source_id)
            for n in positions], now=now)
        for n, skey in zip(positions, found):
            out[n] = skey
    return [skey for skey in out if skey is not None]


def _merged(conn: Connection, reports: list[IncomingReport], skeys: list[str]
            ) -> list[Verzuimmelding]:
    """Each record with its days merged from its student's registrations."""
    groups: dict[tuple[str, str], set[str]] = {}
    for report, skey in zip(reports, skeys):
        groups.setdefault((report.vendor, report.melding.brin), set()).add(skey)
    regs = {(vendor, brin, skey): found for (vendor, brin), wanted in groups.items()
            for skey, found in registraties_by_student(conn, vendor, brin, wanted).items()}
    return [merged(report.melding, regs.get((report.vendor, report.melding.brin, skey), []))
            for report, skey in zip(reports, skeys)]


def _write(conn: Connection, messages: Sequence[Message], reports: list[IncomingReport],
           contents: list[Verzuimmelding], skeys: list[str], now: datetime) -> None:
    insert_rows(conn, t.inbox_messages, [
        {"message_id": message_id, "vendor": vendor, "routing_key": routing_key,
         "received_at": now, "items": 1} for message_id, vendor, routing_key, _ in messages])
    payloads = [encode(m) for m in contents]
    digests = [content_hash(p) for p in payloads]
    insert_rows(conn, t.reports, [
        new_report_row(r.vendor, m, r.melding, skey, payload, digest, S.QUEUED, now)
        for r, m, skey, payload, digest in zip(reports, contents, skeys, payloads, digests)])
    keys = [(r.vendor, m.brin, m.source_id) for r, m in zip(reports, contents)]
    # Inserted one row after the other (executemany: ids rise in message order), their
    # ids read back by their unique keys: RETURNING in parameter order runs row by row
    # on SQLite.
    by_key = _report_ids(conn, keys)
    report_ids = [by_key[key] for key in keys]
    documents = [new_document_id() for _ in reports]
    insert_rows(conn, t.submissions, [
        new_submission_row(rid, skey, "aanleveren", document, payload, digest, now)
        for rid, skey, document, payload, digest in zip(report_ids, skeys, documents, payloads,
                                                         digests)])
    by_document = {row.document_id: row.id
                   for row in conn.execute(_SUBMISSION_IDS, {"ids": documents})}
    sub_ids = [by_document[document] for document in documents]
    rows: list[dict[str, Any]] = []
    for rid, sid in zip(report_ids, sub_ids):
        rows.append(history_row(rid, "received", at=now, to_state=S.QUEUED))
        rows.append(queued_note(rid, sid, "aanleveren", now))
    history_many(conn, rows)
