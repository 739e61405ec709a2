"""DUO's feedback (terugmeldingen) and the poller's watermarks.

Feedback is deduplicated on (meldingsnummer, laatste_mutatie); the watermark is
saved in the same transaction as the events it covers, so a crash either keeps
both or neither (then the poll repeats and the duplicates are absorbed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.model import Status, Terugmelding
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import set_report_state
from adapter.store.common import as_utc, event_uuid, history, insert_ignore
from adapter.store.outbox import outbox_event
from adapter.store.registraties import report_context


def get_watermark(conn: Connection, name: str) -> datetime | None:
    return conn.execute(sa.select(t.watermarks.c.value)
                        .where(t.watermarks.c.name == name)).scalar_one_or_none()


def set_watermark(conn: Connection, name: str, value: datetime) -> None:
    updated = conn.execute(t.watermarks.update().where(t.watermarks.c.name == name)
                           .values(value=value)).rowcount
    if not updated:
        insert_ignore(conn, t.watermarks, {"name": name, "value": value}, ["name"])


def _data(item: Terugmelding, mutation: datetime) -> dict[str, object]:
    b = item.behandelaar
    return {
        "meldingsnummer": item.meldingsnummer, "status": Status(item.status).value,
        "reden": item.reden, "toelichting": item.toelichting,
        "behandelaar": {"naam": b.naam, "telefoonnummer": b.telefoonnummer,
                        "emailadres": b.emailadres, "organisatie": b.organisatie},
        "laatste_mutatie": mutation.isoformat(),
    }


def _report_for(conn: Connection, item: Terugmelding) -> sa.Row[Any] | None:
    """Our report for a feedback item: by meldingsnummer, else by the aanlevering's document id.

    The fallback matters when DUO registered a report whose answer we never got
    (outcome unknown): its feedback can arrive before reconciliation stores the
    meldingsnummer, and must not be skipped while the watermark moves on.
    """
    report = conn.execute(sa.select(t.reports).where(
        t.reports.c.meldingsnummer == item.meldingsnummer)
        .order_by(t.reports.c.id).limit(1).with_for_update(key_share=True)).first()
    if report is not None or not item.identificatiecode_bedrijfsdocument:
        return report
    return conn.execute(sa.select(t.reports).join(
        t.submissions, t.submissions.c.report_id == t.reports.c.id).where(
        t.submissions.c.document_id == item.identificatiecode_bedrijfsdocument)
        .limit(1).with_for_update(of=t.reports, key_share=True)).first()


def apply_feedback(conn: Connection, items: Sequence[Terugmelding], *, watermark: datetime,
                   name: str, now: datetime) -> int:
    """Record new feedback for reports we know; save the watermark; count new events."""
    new_events = 0
    for item in items:
        report = _report_for(conn, item)
        if report is None:
            continue  # not ours (e.g. typed into DUO's web counter)
        mutation = as_utc(item.laatste_mutatie)
        data = _data(item, mutation)
        status = data["status"]
        inserted = insert_ignore(conn, t.terugmeldingen, dict(
            report_id=report.id, meldingsnummer=item.meldingsnummer, laatste_mutatie=mutation,
            status=status, data=data, received_at=now), ["meldingsnummer", "laatste_mutatie"])
        if inserted is None:
            continue
        new_events += 1
        history(conn, report.id, "terugmelding", at=now, detail=f"status {status}")
        if report.laatste_mutatie is None or mutation >= report.laatste_mutatie:
            # Only the newest mutation decides the current status; late, older ones are kept.
            target = report.state
            if status == Status.I.value and report.state == S.REGISTERED:
                target = S.WITHDRAWN
            set_report_state(conn, report.id, report.state, target, now, "report_withdrawn",
                             duo_status=status, laatste_mutatie=mutation)
        outbox_event(conn, message_id=event_uuid(item.meldingsnummer, mutation.isoformat()),
                     vendor=report.vendor, brin=report.brin, event="terugmelding",
                     source_id=report.source_id, data={**report_context(conn, report.id), **data},
                     at=now)
    set_watermark(conn, name, as_utc(watermark))
    return new_events
