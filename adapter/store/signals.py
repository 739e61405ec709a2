"""Signals in the store: each situation raised once, published once, closed when it ends.

The rules are :mod:`adapter.domain.signals` (pure). This module gives them a
student's registrations and reports and keeps the outcome:

- a situation the rules see for the first time → a ``signals`` row ``open`` and
  one ``signaal`` outbox event (``<vendor>.<brin>.signaal``), in one transaction;
- a situation seen again (a restart, a re-published export) → nothing;
- an ``open`` situation the rules no longer see (a report now covers it, a
  registration was withdrawn) → ``closed``, no event.

Which students to evaluate: :func:`changed_students` (registrations or reports
written since a moment) and :func:`all_students` (the daily sweep, for the rules
that depend on the date alone: a deadline passed, an einddatum still missing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.calendar import Calendars
from adapter.domain.model import Verzuimsoort
from adapter.domain.signals import Count, ReportPeriod, Signal, evaluate
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.common import insert_ignore
from adapter.store.outbox import outbox_event
from adapter.store.registraties import registraties_of

Student = tuple[str, str, str]  # vendor, BRIN, student key
OPEN, CLOSED = "open", "closed"


def changed_students(conn: Connection, since: datetime | None) -> list[Student]:
    """Students with registrations or reports written after ``since`` (all when None).

    Reports typed into DUO's web counter (origin ``web``) name no student: not here."""
    queries = []
    for table in (t.registraties, t.reports):
        c = table.c
        q = sa.select(c.vendor, c.brin, c.student_key)
        if table is t.reports:
            q = q.where(c.origin == "adapter")
        queries.append(q if since is None else q.where(c.updated_at > since))
    rows = conn.execute(sa.union(*queries)).all()
    return sorted((r[0], r[1], r[2]) for r in rows)


def all_students(conn: Connection) -> list[Student]:
    return changed_students(conn, None)


def report_periods(conn: Connection, student: Student) -> list[ReportPeriod]:
    """The student's reports that stand (queued or registered) as periods."""
    vendor, brin, skey = student
    r = t.reports.c
    rows = conn.execute(sa.select(r.payload).where(
        r.vendor == vendor, r.brin == brin, r.student_key == skey, r.origin == "adapter",
        r.state.in_((S.QUEUED, S.REGISTERED)))).all()
    periods = []
    for (payload,) in rows:
        end = payload.get("einddatum")
        periods.append(ReportPeriod(Verzuimsoort(payload["verzuimsoort"]),
                                    date.fromisoformat(payload["begindatum"]),
                                    date.fromisoformat(end) if end else None))
    return periods


def evaluate_students(conn: Connection, students: Iterable[Student], *, calendars: Calendars,
                      today: date, count: Count, missing_einddatum_after_days: int,
                      now: datetime) -> Counter[str]:
    """Evaluate and keep each student's signals; returns the new ones by kind."""
    raised: Counter[str] = Counter()
    for student in students:
        vendor, brin, skey = student
        regs = registraties_of(conn, vendor, brin, skey)
        signals = evaluate(regs, report_periods(conn, student),
                           calendar=calendars.for_brin(brin), today=today, count=count,
                           missing_einddatum_after_days=missing_einddatum_after_days)
        leerlingnummer = next((r.student.leerlingnummer for r in reversed(regs)
                               if r.student.leerlingnummer), None)
        for signal in signals:
            if _raise(conn, student, signal, leerlingnummer, now):
                raised[signal.signaal] += 1
        _close_others(conn, student, {s.key for s in signals}, now)
    return raised


def _data(signal: Signal, leerlingnummer: str | None) -> dict[str, Any]:
    return {
        "signaal": signal.signaal, "leerlingnummer": leerlingnummer,
        "begindatum": signal.begindatum.isoformat(),
        "einddatum": signal.einddatum.isoformat() if signal.einddatum else None,
        "uren": signal.uren, "reden": signal.reden,
        "meld_uiterlijk": signal.meld_uiterlijk.isoformat() if signal.meld_uiterlijk else None,
    }


def _raise(conn: Connection, student: Student, signal: Signal, leerlingnummer: str | None,
           now: datetime) -> bool:
    vendor, brin, skey = student
    data = _data(signal, leerlingnummer)
    new_id = insert_ignore(conn, t.signals, dict(
        vendor=vendor, brin=brin, student_key=skey, signaal=signal.signaal,
        situation=signal.key, state=OPEN, data=data, raised_at=now, closed_at=None),
        ["vendor", "brin", "student_key", "situation"])
    if new_id is None:
        return False
    outbox_event(conn, message_id=f"signaal:{new_id}", vendor=vendor, brin=brin,
                 event="signaal", source_id=None, data=data, at=now)
    return True


def _close_others(conn: Connection, student: Student, keep: set[str], now: datetime) -> None:
    vendor, brin, skey = student
    c = t.signals.c
    where = [c.vendor == vendor, c.brin == brin, c.student_key == skey, c.state == OPEN]
    if keep:
        where.append(c.situation.notin_(sorted(keep)))
    conn.execute(t.signals.update().where(*where).values(state=CLOSED, closed_at=now))


def list_signals(conn: Connection, *, include_closed: bool = False,
                 limit: int = 1000) -> list[dict[str, Any]]:
    """Signals, newest first: ids, kind, state, school and the event's data."""
    c = t.signals.c
    q = sa.select(t.signals).order_by(c.id.desc()).limit(limit)
    if not include_closed:
        q = q.where(c.state == OPEN)
    return [{"id": row.id, "vendor": row.vendor, "brin": row.brin, "signaal": row.signaal,
             "state": row.state, "raised_at": row.raised_at.isoformat(),
             **{k: v for k, v in row.data.items() if k != "signaal"}}
            for row in conn.execute(q).all()]


def signal_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """(kind, state) → how many."""
    c = t.signals.c
    rows = conn.execute(sa.select(c.signaal, c.state, sa.func.count())
                        .group_by(c.signaal, c.state)).all()
    return {(kind, state): int(n) for kind, state, n in rows}
