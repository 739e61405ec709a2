"""A plain page of DUO's feedback, applied set-based (``terugmeldingen.apply_feedback``).

A page is plain when each item names a different meldingsnummer and another of our own
reports (found by its meldingsnummer or, while the submitter has not stored the
registration's answer yet, by its document id), read up front
(``terugmeldingen._page_reports``): then no item needs to see what an earlier one of
the page wrote, and the page's writes are one statement per table. The result is that
of the item-by-item path: a terugmelding row, a history row and (for the newest
mutation, when it changes them) the report's status and stamp per new item, a
``terugmelding`` event each, in item order; an item already stored is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.model import Registratie, Status, Terugmelding
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import report_update
from adapter.store.bulk import insert_rows
from adapter.store.common import as_utc, event_uuid, history_many, history_row
from adapter.store.keylist import in_list
from adapter.store.outbox import outbox_events
from adapter.store.registraties import report_context

_tm = t.terugmeldingen.c
_STORED = sa.select(_tm.meldingsnummer, _tm.laatste_mutatie).where(
    in_list(_tm.meldingsnummer, "numbers"))
_NEWEST = report_update(("duo_status", "laatste_mutatie"))


def feedback_data(item: Terugmelding, mutation: datetime) -> dict[str, object]:
    """What a terugmelding row and its event carry of a feedback item."""
    b = item.behandelaar
    return {
        "meldingsnummer": item.meldingsnummer, "status": Status(item.status).value,
        "reden": item.reden, "toelichting": item.toelichting,
        "behandelaar": {"naam": b.naam, "telefoonnummer": b.telefoonnummer,
                        "emailadres": b.emailadres, "organisatie": b.organisatie},
        "laatste_mutatie": mutation.isoformat(),
    }


def is_newest(report: sa.Row[Any], mutation: datetime) -> bool:
    """Only the newest mutation decides a report's status; late, older ones are kept."""
    return report.laatste_mutatie is None or mutation >= report.laatste_mutatie


def changes_report(report: sa.Row[Any], state: str, status: str, mutation: datetime) -> bool:
    """Whether the newest mutation changes the report's state, status or stamp. DUO's
    feed also names the reports just registered, with the status and stamp the
    registration's answer brought: those leave the row (and its ``updated_at``, which
    the signaler follows) as it is."""
    return (state != report.state or status != report.duo_status
            or report.laatste_mutatie is None or as_utc(report.laatste_mutatie) != mutation)


def state_after(state: str, status: str) -> str:
    """A report's state once DUO's newest status is ``status``: I withdraws it."""
    return S.WITHDRAWN if status == Status.I.value and state == S.REGISTERED else state


def feedback_event(item: Terugmelding, report: sa.Row[Any], source_id: str | None,
                   data: dict[str, Any], mutation: datetime, now: datetime) -> dict[str, Any]:
    """The ``terugmelding`` event of a feedback item, as an outbox row (its id derived from
    the item's meldingsnummer and mutation, so a repeated poll writes it once)."""
    return dict(message_id=event_uuid(item.meldingsnummer, mutation.isoformat()),
                vendor=report.vendor, brin=report.brin, event="terugmelding",
                source_id=source_id, data=data, created_at=now, published_at=None)


def apply_plain_page(conn: Connection, items: Sequence[Terugmelding],
                     reports: dict[str, sa.Row[Any]],
                     regs: dict[tuple[str, str, str], list[Registratie]], *,
                     now: datetime) -> int:
    """Apply a plain page (``reports``: each item's report by meldingsnummer, locked);
    returns the new events."""
    stored = {(number, as_utc(mutation)) for number, mutation in conn.execute(
        _STORED, {"numbers": sorted(reports)})}
    rows: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for item in items:
        report = reports[item.meldingsnummer]
        mutation = as_utc(item.laatste_mutatie)
        if (item.meldingsnummer, mutation) in stored:
            continue
        data = feedback_data(item, mutation)
        status = str(data["status"])
        rows.append(dict(report_id=report.id, meldingsnummer=item.meldingsnummer,
                         laatste_mutatie=mutation, status=status, data=data, received_at=now))
        history.append(history_row(report.id, "terugmelding", at=now, detail=f"status {status}"))
        target = state_after(report.state, status)
        if is_newest(report, mutation) and changes_report(report, target, status, mutation):
            S.check_report(report.state, target, row_id=report.id)
            updates.append({"b_id": report.id, "b_state": target, "b_updated_at": now,
                            "b_duo_status": status, "b_laatste_mutatie": mutation})
            if target != report.state:
                history.append(history_row(report.id, "report_withdrawn", at=now,
                                           from_state=report.state, to_state=target))
        context = report_context(conn, report.id, row=report,
                                 regs=regs.get((report.vendor, report.brin, report.student_key)))
        events.append(feedback_event(item, report, report.source_id, {**context, **data},
                                     mutation, now))
    # Each row is new: ``stored`` was read with the page's reports locked, and every
    # writer of feedback locks the report first. So a plain insert (COPY on PostgreSQL,
    # docs/performance.md round 14), not one that looks for a conflict per row.
    insert_rows(conn, t.terugmeldingen, rows)
    if updates:
        conn.execute(_NEWEST, updates)
    history_many(conn, history)
    outbox_events(conn, events)     # in item order, one statement
    return len(events)
