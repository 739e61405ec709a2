"""Attachments (bijlagen) in the store: accepted once, sent once, their outcome told.

A file arrives as its own AMQP message (``<vendor>.bijlage``). :func:`accept_bijlage`
checks it (:func:`adapter.domain.attachments.check_attachment`) and finds its
report, all in one transaction:

=================================================  ==========================================
situation                                           effect
=================================================  ==========================================
the message was stored before (redelivery)          nothing
fails a check, names no report (AD043), or its      ``rejected`` event naming the rule; the
report is rejected, failed or withdrawn (AD044)     bytes are kept nowhere
otherwise                                           ``bijlagen`` row ``pending`` with a fresh
                                                    business-document id
=================================================  ==========================================

States of a row::

    pending ──claim──▶ sending ──▶ sent | rejected | unknown | failed | pending (retry)
    unknown ──claim──▶ sending      (resent with the SAME document id: DUO answers
                                     "duplicate" if the first one arrived → sent)

A row is claimed only once its report has a meldingsnummer (DUO registered it).
A row DUO refused keeps no content either.

A ``sending`` row carries its owner and a lease (``claimed_by``, ``lease_until``), as a
claimed submission does (:mod:`adapter.store.leases`): the owner renews it before
each send; a row whose lease ran out (its replica died) becomes ``unknown`` at any
live replica (:func:`recover_expired`), and a live replica's row is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.attachments import Checked, check_attachment
from adapter.domain.rules import ADAPTER_RULES
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import rejection_errors
from adapter.store.api import FieldViolation
from adapter.store.common import clip, event_uuid, insert_ignore, new_document_id
from adapter.store.outbox import outbox_event
from adapter.store.registraties import report_context

PENDING, SENDING, SENT, REJECTED, UNKNOWN, FAILED = (
    "pending", "sending", "sent", "rejected", "unknown", "failed")
OPERATION = "aanleverenBijlage"
_b, _r = t.bijlagen, t.reports


@dataclass(frozen=True)
class BijlageClaim:
    """An attachment claimed for sending; ``document_id`` is the same on every attempt."""

    bijlage: int
    report_id: int
    submission_id: int | None   # the report's newest submission: its exchanges' home
    brin: str
    meldingsnummer: str
    bestandsnaam: str
    mime_type: str
    content: bytes
    document_id: str
    attempt: int


def accept_bijlage(conn: Connection, *, message_id: str, vendor: str, brin: str | None,
                   source_id: str | None, bestandsnaam: str | None, content: bytes,
                   max_bytes: int, allowed: tuple[str, ...], default_brin: str,
                   now: datetime) -> str:
    """Store or refuse one attachment; returns ``stored``, ``duplicate`` or ``rejected``."""
    if conn.execute(sa.select(_b.c.id).where(_b.c.message_id == message_id)).first():
        return "duplicate"
    checked = check_attachment(content, bestandsnaam, max_bytes=max_bytes, allowed=allowed)
    report = _report(conn, vendor, brin, source_id) if source_id else None
    refusal: FieldViolation | None = None
    if not isinstance(checked, Checked):
        refusal = checked
    elif report is None:
        refusal = ("source_id", ADAPTER_RULES["AD043"], "AD043")
    elif report.state in (S.REJECTED, S.FAILED, S.WITHDRAWN):
        refusal = ("source_id", ADAPTER_RULES["AD044"], "AD044")
    if refusal is not None or not isinstance(checked, Checked) or report is None:
        # (the last two only narrow the types: refusal is set whenever they hold)
        named = refusal is not None and refusal[0] == "bestandsnaam"
        outbox_event(conn, message_id=event_uuid(message_id, OPERATION), vendor=vendor,
                     brin=report.brin if report is not None else (brin or default_brin),
                     event="rejected", source_id=source_id, at=now, data={
                         "errors": rejection_errors([refusal] if refusal else []),
                         "position": "bijlage", "operation": OPERATION,
                         # the SIS's own file name, unless it is what was refused
                         "bestandsnaam": None if named else bestandsnaam})
        return "rejected"
    insert_ignore(conn, t.bijlagen, dict(
        report_id=report.id, message_id=message_id, bestandsnaam=bestandsnaam,
        mime_type=checked.mime_type, size=checked.size, sha256=checked.sha256,
        content=content, document_id=new_document_id(), state=PENDING, attempts=0,
        next_attempt_at=now, bijlage_id=None, last_error=None, created_at=now,
        updated_at=now), ["message_id"])
    return "stored"


def _report(conn: Connection, vendor: str, brin: str | None,
            source_id: str) -> sa.Row[Any] | None:
    where = [_r.c.vendor == vendor, _r.c.source_id == source_id]
    if brin:
        where.append(_r.c.brin == brin)
    rows = conn.execute(sa.select(_r).where(*where).limit(2)).all()
    return rows[0] if len(rows) == 1 else None   # ambiguous across schools: name the BRIN


def _due(now: datetime) -> sa.Select[Any]:
    return (sa.select(_b.c.id).select_from(_b.join(_r, _b.c.report_id == _r.c.id))
            .where(_b.c.state.in_((PENDING, UNKNOWN)), _b.c.next_attempt_at <= now,
                   _r.c.meldingsnummer.is_not(None))
            .order_by(_b.c.id))


def any_due(conn: Connection, *, now: datetime) -> bool:
    """Whether :func:`claim_bijlagen` would claim anything (a read without locks)."""
    return conn.execute(_due(now).limit(1)).first() is not None


def claim_bijlagen(conn: Connection, *, limit: int, now: datetime, owner: str | None = None,
                   lease_until: datetime | None = None) -> list[BijlageClaim]:
    """Due attachments of registered reports, oldest first, moved to ``sending``, held by
    ``owner`` until ``lease_until``."""
    rows = conn.execute(_due(now).limit(limit)
                        .with_for_update(skip_locked=True, of=_b)).scalars().all()
    claims = []
    for bijlage_id in rows:
        row = conn.execute(sa.select(_b, _r.c.brin, _r.c.meldingsnummer,
                                     _r.c.state.label("report_state"))
                           .select_from(_b.join(_r, _b.c.report_id == _r.c.id))
                           .where(_b.c.id == bijlage_id)).one()
        conn.execute(_b.update().where(_b.c.id == row.id).values(
            state=SENDING, attempts=row.attempts + 1, updated_at=now, claimed_by=owner,
            lease_until=lease_until))
        newest = conn.execute(sa.select(sa.func.max(t.submissions.c.id)).where(
            t.submissions.c.report_id == row.report_id)).scalar_one_or_none()
        claims.append(BijlageClaim(
            bijlage=row.id, report_id=row.report_id, submission_id=newest, brin=row.brin,
            meldingsnummer=row.meldingsnummer, bestandsnaam=row.bestandsnaam,
            mime_type=row.mime_type, content=bytes(row.content), document_id=row.document_id,
            attempt=row.attempts + 1))
    return claims


def _row(conn: Connection, bijlage: int) -> sa.Row[Any]:
    return conn.execute(sa.select(_b, _r.c.vendor, _r.c.brin, _r.c.source_id)
                        .select_from(_b.join(_r, _b.c.report_id == _r.c.id))
                        .where(_b.c.id == bijlage)).one()


def _event_data(conn: Connection, row: sa.Row[Any], **extra: Any) -> dict[str, Any]:
    return {**report_context(conn, row.report_id), "operation": OPERATION,
            "bestandsnaam": row.bestandsnaam, "mime_type": row.mime_type, "size": row.size,
            "sha256": row.sha256, "business_document_id": row.document_id, **extra}


def mark_sent(conn: Connection, bijlage: int, *, meldingsnummer: str, bijlage_id: str | None,
              now: datetime) -> None:
    row = _row(conn, bijlage)
    conn.execute(_b.update().where(_b.c.id == bijlage).values(
        state=SENT, bijlage_id=bijlage_id, last_error=None, updated_at=now))
    outbox_event(conn, message_id=f"registered:{row.document_id}", vendor=row.vendor,
                 brin=row.brin, event="registered", source_id=row.source_id, at=now,
                 data=_event_data(conn, row, meldingsnummer=meldingsnummer,
                                  bijlage_id=bijlage_id))


def mark_rejected(conn: Connection, bijlage: int, *, errors: list[tuple[str, str]],
                  violations: list[FieldViolation], now: datetime) -> None:
    """Refused by DUO (``errors``) or by us (``violations``): the content is dropped."""
    row = _row(conn, bijlage)
    codes = ",".join([*(c for c, _ in errors), *(c for _, _, c in violations)])
    conn.execute(_b.update().where(_b.c.id == bijlage).values(
        state=REJECTED, content=b"", last_error=clip(f"rejected: {codes}"), updated_at=now))
    outbox_event(conn, message_id=f"rejected:{row.document_id}", vendor=row.vendor,
                 brin=row.brin, event="rejected", source_id=row.source_id, at=now,
                 data=_event_data(conn, row, errors=[
                     *({"code": c, "field": None, "rule": x, "text": x} for c, x in errors),
                     *rejection_errors(violations)]))


def retry_later(conn: Connection, bijlage: int, *, at: datetime, error: str, unknown: bool,
                now: datetime) -> None:
    """Back to ``pending`` (or ``unknown``: resend with the same id) at ``at``."""
    conn.execute(_b.update().where(_b.c.id == bijlage).values(
        state=UNKNOWN if unknown else PENDING, next_attempt_at=at, last_error=clip(error),
        updated_at=now))


def release(conn: Connection, bijlage: int, *, now: datetime) -> None:
    """A claim given back unsent (system fault, shutdown): its attempt is not counted."""
    attempts = conn.execute(sa.select(_b.c.attempts).where(_b.c.id == bijlage)).scalar_one()
    conn.execute(_b.update().where(_b.c.id == bijlage, _b.c.state == SENDING).values(
        state=PENDING, attempts=max(int(attempts) - 1, 0), updated_at=now))


def mark_failed(conn: Connection, bijlage: int, *, reason: str, now: datetime) -> None:
    row = _row(conn, bijlage)
    conn.execute(_b.update().where(_b.c.id == bijlage).values(
        state=FAILED, last_error=clip(reason), updated_at=now))
    outbox_event(conn, message_id=f"failed:{row.document_id}", vendor=row.vendor,
                 brin=row.brin, event="failed", source_id=row.source_id, at=now,
                 data=_event_data(conn, row, reason=reason, attempts=row.attempts))


def recover_interrupted(conn: Connection, *, now: datetime) -> int:
    """``sending`` rows at start-up: we cannot know whether they left → ``unknown``.
    Only where no other process sends (a SQLite store); replicas use :func:`recover_expired`."""
    return int(conn.execute(_b.update().where(_b.c.state == SENDING).values(
        state=UNKNOWN, updated_at=now)).rowcount or 0)


def renew(conn: Connection, ids: list[int], *, owner: str, until: datetime) -> int:
    """Extend the leases of these rows of ``owner`` that are still ``sending``."""
    if not ids:
        return 0
    return int(conn.execute(_b.update().where(
        _b.c.id.in_(ids), _b.c.claimed_by == owner, _b.c.state == SENDING).values(
        lease_until=until)).rowcount or 0)


def _expired(now: datetime) -> sa.Select[tuple[int]]:
    """``sending`` rows whose lease ran out (or that never had one), oldest first."""
    return sa.select(_b.c.id).where(
        _b.c.state == SENDING, sa.or_(_b.c.lease_until.is_(None), _b.c.lease_until < now)
    ).order_by(_b.c.id)


def any_expired(conn: Connection, *, now: datetime) -> bool:
    """Whether :func:`recover_expired` would move anything: a read without locks."""
    return conn.execute(_expired(now).limit(1)).first() is not None


def recover_expired(conn: Connection, *, now: datetime) -> int:
    """``sending`` rows whose lease ran out (or that never had one) → ``unknown``: sent
    again with the same document id. A live replica's rows are left alone; a row being
    renewed meanwhile is skipped (locked)."""
    ids = conn.execute(_expired(now).limit(500)
                       .with_for_update(skip_locked=True)).scalars().all()
    if not ids:
        return 0
    return int(conn.execute(_b.update().where(_b.c.id.in_(list(ids)), _b.c.state == SENDING)
                            .values(state=UNKNOWN, claimed_by=None, lease_until=None,
                                    updated_at=now)).rowcount or 0)


def bijlagen_of(conn: Connection, report_id: int) -> list[dict[str, Any]]:
    """A report's attachments: name, type, size, hash, state, DUO's id (no content)."""
    rows = conn.execute(sa.select(_b).where(_b.c.report_id == report_id)
                        .order_by(_b.c.id)).all()
    return [{"id": r.id, "bestandsnaam": r.bestandsnaam, "mime_type": r.mime_type,
             "size": r.size, "sha256": r.sha256, "state": r.state, "bijlage_id": r.bijlage_id}
            for r in rows]
