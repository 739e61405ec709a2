"""One student per SIS student number: an onderwijsnummer later replaced by a BSN keeps
the student's registrations and reports together (``adapter.store.students``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import sqlalchemy as sa

from adapter.domain.model import Registratie, Student, Verzuimdag
from adapter.store import IncomingRegistratie, IncomingReport, Store
from adapter.store import schema as t

from .factories import T0, accept, melding

LATER = T0 + timedelta(days=30)
ONR, BSN = "100000004", "123456782"
WITH_ONR = Student(onderwijsnummer=ONR, leerlingnummer="403117")
WITH_BSN = Student(bsn=BSN, leerlingnummer="403117")


def reg(source: str, day: int, student: Student, lesuren: tuple[int, ...] = (1, 2)
        ) -> IncomingRegistratie:
    return IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id=source, brin="00AA", student=student, datum=date(2025, 2, day),
        lesuren=lesuren))


def v3(source: str, student: Student, **kw: object) -> IncomingReport:
    values: dict[str, object] = {"einddatum": date(2025, 2, 14), "verzuimdagen": (), **kw}
    return IncomingReport(vendor="acme", melding=melding(source, student=student, **values))


def keys(store: Store) -> tuple[set[str], set[str]]:
    with store.database.engine.connect() as conn:
        return (set(conn.execute(sa.select(t.registraties.c.student_key)).scalars()),
                set(conn.execute(sa.select(t.reports.c.student_key)).scalars()))


def test_registrations_under_the_onderwijsnummer_fill_a_report_sent_with_the_bsn(
        store: Store) -> None:
    accept(store, "m-1", reg("w1", 3, WITH_ONR), reg("w2", 4, WITH_ONR, (3,)))
    accept(store, "m-2", v3("r1", WITH_BSN))
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.melding.student.bsn == BSN                        # DUO gets the BSN
    assert claim.melding.verzuimdagen == (Verzuimdag(date(2025, 2, 3), lesuren=(1, 2)),
                                          Verzuimdag(date(2025, 2, 4), lesuren=(3,)))
    registraties, reports = keys(store)
    assert len(registraties) == 1 and registraties == reports      # one student


def test_a_later_registration_with_the_bsn_amends_the_same_students_report(
        store: Store) -> None:
    accept(store, "m-1", reg("w1", 3, WITH_ONR), v3("r1", WITH_ONR))
    result = accept(store, "m-2", reg("w2", 5, WITH_BSN, (4,)))
    assert result.updated_reports == 1
    [claim] = store.claim_due(limit=5, now=LATER)
    assert [d.datum.day for d in claim.melding.verzuimdagen] == [3, 5]
    registraties, reports = keys(store)
    assert len(registraties | reports) == 1


def test_reports_of_one_student_under_both_numbers_are_sent_one_at_a_time(
        store: Store) -> None:
    accept(store, "m-1", v3("r1", WITH_ONR),
           v3("r2", WITH_BSN, begindatum=date(2025, 2, 17), einddatum=date(2025, 2, 21)))
    [first] = store.claim_due(limit=5, now=LATER)                  # per-student ordering
    assert first.melding.source_id == "r1"
    store.mark_registered(first.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0)
    [second] = store.claim_due(limit=5, now=LATER)
    assert second.melding.source_id == "r2"


def test_without_a_leerlingnummer_the_numbers_are_two_students(store: Store) -> None:
    accept(store, "m-1", reg("w1", 3, Student(onderwijsnummer=ONR)),
           v3("r1", Student(bsn=BSN)))
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.melding.verzuimdagen == ()
    registraties, reports = keys(store)
    assert registraties.isdisjoint(reports)


def test_the_same_leerlingnummer_at_another_vendor_or_brin_is_another_student(
        store: Store) -> None:
    accept(store, "m-1", reg("w1", 3, WITH_ONR))
    store.accept(message_id="m-2", vendor="other", routing_key="other.export",
                 items=[IncomingReport(vendor="other", melding=melding(
                     "r1", student=WITH_BSN, einddatum=date(2025, 2, 14)))], now=T0)
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.melding.verzuimdagen == ()


def test_the_alias_table_keeps_no_student_number(store: Store) -> None:
    accept(store, "m-1", reg("w1", 3, WITH_ONR), v3("r1", WITH_BSN))
    with store.database.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(t.student_aliases)).all()]
    assert len(rows) == 1
    assert not any(number in str(rows) for number in ("403117", ONR, BSN))


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)
    engine = store.database.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_the_keys_of_a_chunk_cost_a_bounded_number_of_statements(store: Store) -> None:
    def chunk(message: str, n: int) -> int:
        items = [IncomingRegistratie(vendor="acme", registratie=Registratie(
            source_id=f"{message}-{i}", brin="00AA", datum=date(2025, 2, 3), lesuren=(1,),
            student=Student(bsn=BSN if i % 2 else None, onderwijsnummer=None if i % 2 else ONR,
                            leerlingnummer=f"{message}-L{i}"))) for i in range(n)]
        with statements(store) as seen:
            accept(store, message, *items)
        return len([s for s in seen if "student_aliases" in s])
    assert chunk("small", 5) == chunk("large", 400) == 3          # select, insert, select
