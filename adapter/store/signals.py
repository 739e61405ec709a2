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
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain import regions
from adapter.domain.calendar import Calendars
from adapter.domain.codec import registratie_from_dict
from adapter.domain.model import Verzuimsoort
from adapter.domain.regions import SIGNAAL as REGIONALE_AFSPRAAK
from adapter.domain.signals import SIGNAL_KINDS, Count, ReportPeriod, Signal, evaluate
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.common import insert_ignore
from adapter.store.keylist import in_list
from adapter.store.outbox import outbox_event

Student = tuple[str, str, str]  # vendor, BRIN, student key
OPEN, CLOSED = "open", "closed"
#: Students whose rows one query of :func:`evaluate_students` reads.
STUDENTS_PER_QUERY = 100


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


def change_stamps(conn: Connection, since: datetime) -> dict[Student, frozenset[datetime]]:
    """Per student, the distinct ``updated_at`` of its registrations and reports written
    after ``since``: a stamp not seen before is a change not evaluated yet."""
    queries = []
    for table in (t.registraties, t.reports):
        c = table.c
        q = sa.select(c.vendor, c.brin, c.student_key, c.updated_at).where(c.updated_at > since)
        if table is t.reports:
            q = q.where(c.origin == "adapter")
        queries.append(q)
    out: dict[Student, set[datetime]] = {}
    for vendor, brin, skey, stamp in conn.execute(sa.union(*queries)).all():
        out.setdefault((vendor, brin, skey), set()).add(stamp)
    return {student: frozenset(stamps) for student, stamps in out.items()}


def all_students(conn: Connection) -> list[Student]:
    return changed_students(conn, None)


def _period(payload: dict[str, Any]) -> ReportPeriod:
    """A standing report (queued, registered, or held by a regional agreement: the school
    did report) as the period it covers."""
    end = payload.get("einddatum")
    return ReportPeriod(Verzuimsoort(payload["verzuimsoort"]),
                        date.fromisoformat(payload["begindatum"]),
                        date.fromisoformat(end) if end else None)


@dataclass(frozen=True)
class Evaluated:
    """One student's signals as the rules see them now, and what the store holds."""

    student: Student
    signals: tuple[Signal, ...]
    leerlingnummer: str | None
    known: dict[str, str]          # situation -> state, as stored

    @property
    def changes(self) -> bool:
        keys = {s.key for s in self.signals}
        opened = {k for k, state in self.known.items() if state == OPEN}
        return bool(keys - set(self.known)) or bool(opened - keys)


def evaluate_students(conn: Connection, students: Iterable[Student], *, calendars: Calendars,
                      today: date, count: Count,
                      missing_einddatum_after_days: int) -> list[Evaluated]:
    """The rules applied to each student (reads only: run it outside a write lock)."""
    out = []
    wanted = list(students)
    # Three statements per group of students (not three per student): their
    # registrations, their standing reports and their stored signals.
    regs_of = _by_student(conn, wanted, _REGISTRATIES)
    reports_of = _by_student(conn, wanted, _STANDING_REPORTS)
    signals_of = _by_student(conn, wanted, _SIGNALS)
    for student in wanted:
        regs = [registratie_from_dict(dict(row.payload)) for row in regs_of.get(student, ())]
        periods = [_period(row.payload) for row in reports_of.get(student, ())]
        signals = evaluate(regs, periods,
                           calendar=calendars.for_brin(student[1]), today=today, count=count,
                           missing_einddatum_after_days=missing_einddatum_after_days)
        leerlingnummer = next((r.student.leerlingnummer for r in reversed(regs)
                               if r.student.leerlingnummer), None)
        known = {row.situation: row.state for row in signals_of.get(student, ())}
        out.append(Evaluated(student, tuple(signals), leerlingnummer, known))
    return out


def _per_student(table: sa.Table, *columns: sa.ColumnElement[Any],
                 order: tuple[sa.ColumnElement[Any], ...],
                 where: tuple[sa.ColumnElement[bool], ...] = ()) -> sa.Select[Any]:
    """``columns`` of ``table``'s rows of some students of one school (parameters
    ``vendor``, ``brin``, ``skeys``), by student and then ``order``."""
    c = table.c
    return (sa.select(c.student_key, *columns)
            .where(c.vendor == sa.bindparam("vendor"), c.brin == sa.bindparam("brin"),
                   in_list(c.student_key, "skeys"), *where)
            .order_by(c.student_key, *order))


# Built once (a round runs them per group of students): no statement built per call.
_REGISTRATIES = _per_student(t.registraties, t.registraties.c.payload,
                             order=(t.registraties.c.datum, t.registraties.c.id))
_STANDING_REPORTS = _per_student(
    t.reports, t.reports.c.payload, order=(t.reports.c.id,),
    where=(t.reports.c.origin == "adapter",
           t.reports.c.state.in_((S.QUEUED, S.REGISTERED, S.HELD))))
_SIGNALS = _per_student(t.signals, t.signals.c.situation, t.signals.c.state,
                        order=(t.signals.c.id,),
                        where=(t.signals.c.signaal.in_(SIGNAL_KINDS),))  # the rules' own kinds


def _by_student(conn: Connection, students: list[Student],
                query: sa.Select[Any]) -> dict[Student, list[Any]]:
    """``query``'s rows (see :func:`_per_student`) per student: one statement per
    vendor, BRIN and :data:`STUDENTS_PER_QUERY` students."""
    groups: dict[tuple[str, str], list[str]] = {}
    for vendor, brin, skey in students:
        groups.setdefault((vendor, brin), []).append(skey)
    out: dict[Student, list[Any]] = {}
    for (vendor, brin), skeys in groups.items():
        for start in range(0, len(skeys), STUDENTS_PER_QUERY):
            rows = conn.execute(query, {"vendor": vendor, "brin": brin,
                                        "skeys": skeys[start:start + STUDENTS_PER_QUERY]}).all()
            for row in rows:
                out.setdefault((vendor, brin, row.student_key), []).append(row)
    return out


def keep(conn: Connection, evaluated: Iterable[Evaluated], now: datetime) -> Counter[str]:
    """Raise what is new (a row and one outbox event each), close what ended; the new
    ones by kind. Safe to repeat: a situation raised meanwhile is not raised again."""
    raised: Counter[str] = Counter()
    for item in evaluated:
        for signal in item.signals:
            if _raise(conn, item.student, signal, item.leerlingnummer, now):
                raised[signal.signaal] += 1
        _close_others(conn, item.student, {s.key for s in item.signals}, now)
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
           now: datetime, *, situation: str | None = None, source_id: str | None = None) -> bool:
    vendor, brin, skey = student
    data = _data(signal, leerlingnummer)
    new_id = insert_ignore(conn, t.signals, dict(
        vendor=vendor, brin=brin, student_key=skey, signaal=signal.signaal,
        situation=situation or signal.key, state=OPEN, data=data, raised_at=now,
        closed_at=None), ["vendor", "brin", "student_key", "situation"])
    if new_id is None:
        return False
    outbox_event(conn, message_id=f"signaal:{new_id}", vendor=vendor, brin=brin,
                 event="signaal", source_id=source_id, data=data, at=now)
    return True


def _held_prefix(report_id: int) -> str:
    return f"{REGIONALE_AFSPRAAK}:report-{report_id}:"


def raise_held(conn: Connection, report: Any, payload: dict[str, Any], gemeentecode: str,
               now: datetime) -> bool:
    """A ``regionale_afspraak`` signal for held report ``report`` (a reports row: id,
    vendor, brin, source_id, student_key), once per report; True when new.

    Its data are the report's period, the SIS's leerlingnummer and a fixed reason
    naming the gemeentecode; the event carries the report's ``source_id``. Each
    time a report is held is its own situation (held, released by a new version,
    held again: two signals)."""
    c = t.signals.c
    prefix = _held_prefix(report.id)
    earlier = conn.execute(sa.select(sa.func.count()).where(
        c.vendor == report.vendor, c.brin == report.brin, c.student_key == report.student_key,
        c.situation.startswith(prefix, autoescape=True))).scalar_one()
    end = payload.get("einddatum")
    signal = Signal(REGIONALE_AFSPRAAK, date.fromisoformat(payload["begindatum"]),
                    date.fromisoformat(end) if end else None, 0, regions.reden(gemeentecode))
    leerlingnummer = (payload.get("student") or {}).get("leerlingnummer")
    return _raise(conn, (report.vendor, report.brin, report.student_key), signal,
                  leerlingnummer, now, situation=f"{prefix}{int(earlier) + 1}",
                  source_id=report.source_id)


def close_held(conn: Connection, report: Any, now: datetime) -> None:
    """The report is no longer held (released or withdrawn): close its signal, no event."""
    c = t.signals.c
    conn.execute(t.signals.update().where(
        c.vendor == report.vendor, c.brin == report.brin, c.student_key == report.student_key,
        c.situation.startswith(_held_prefix(report.id), autoescape=True), c.state == OPEN,
    ).values(state=CLOSED, closed_at=now))


def _close_others(conn: Connection, student: Student, keep: set[str], now: datetime) -> None:
    """Close the open situations of the rules (:data:`SIGNAL_KINDS`) they no longer see;
    a ``regionale_afspraak`` is closed by the store when its report is released."""
    vendor, brin, skey = student
    c = t.signals.c
    where = [c.vendor == vendor, c.brin == brin, c.student_key == skey, c.state == OPEN,
             c.signaal.in_(SIGNAL_KINDS)]
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
