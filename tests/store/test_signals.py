"""Signals kept in the store (SQLite and PostgreSQL): raised once, published once, closed."""

from __future__ import annotations

from datetime import date, timedelta

from adapter.domain.calendar import Calendars, SchoolCalendar
from adapter.domain.model import Registratie, Student
from adapter.store import IncomingRegistratie, IncomingReport, Store

from .factories import T0, accept, melding

STUDENT = Student(bsn="123456782", leerlingnummer="403117")
CALENDARS = Calendars(default=SchoolCalendar.build(region="midden"))
#: Two lesson hours on Mondays and Tuesdays of four school weeks around the
#: herfstvakantie (week 43, 18–26 Oct 2025): the 16th hour falls on Tuesday 28 Oct.
MONDAYS = [date(2025, 9, 29), date(2025, 10, 6), date(2025, 10, 13), date(2025, 10, 27)]


def regs(**kw: object) -> list[IncomingRegistratie]:
    return [IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id=f"w-{m + timedelta(days=d)}", brin="00AA", student=STUDENT,
        datum=m + timedelta(days=d), lesuren=(1, 2), **kw))  # type: ignore[arg-type]
        for m in MONDAYS for d in (0, 1)]


def evaluate(store: Store, today: date) -> dict[str, int]:
    return dict(store.evaluate_signals(store.signal_students(), calendars=CALENDARS,
                                       today=today, count="lessons"))


def signal_events(store: Store) -> list[dict[str, object]]:
    return [e.data for _, e in store.pending_events(100) if e.event == "signaal"]


def test_a_situation_is_raised_and_published_once(store: Store) -> None:
    accept(store, "m-1", *regs())
    assert evaluate(store, date(2025, 10, 27)) == {}
    assert evaluate(store, date(2025, 10, 28)) == {"zestien_uur": 1}
    assert evaluate(store, date(2025, 10, 28)) == {}             # a restart: nothing again
    accept(store, "m-2", *regs())                                 # the export re-published
    assert evaluate(store, date(2025, 10, 29)) == {}
    [event] = signal_events(store)
    assert event == {"signaal": "zestien_uur", "leerlingnummer": "403117",
                     "begindatum": "2025-09-29", "einddatum": "2025-10-28", "uren": 16.0,
                     "reden": "16 uur ongeoorloofd verzuim in 4 schoolweken",
                     "meld_uiterlijk": "2025-11-04"}
    assert "123456782" not in str(store.list_signals())
    [listed] = store.list_signals()
    assert (listed["signaal"], listed["state"], listed["brin"]) == ("zestien_uur", "open", "00AA")


def test_authorised_hours_raise_nothing(store: Store) -> None:
    accept(store, "m-1", *regs(geoorloofd=True))
    assert evaluate(store, date(2025, 11, 30)) == {}
    assert signal_events(store) == [] and store.list_signals() == []


def test_a_report_covering_the_period_closes_the_signal(store: Store) -> None:
    accept(store, "m-1", *regs())
    assert evaluate(store, date(2025, 11, 6)) == {"zestien_uur": 1, "meldtermijn_verstreken": 1}
    report = IncomingReport(vendor="acme", melding=melding(
        "r1", student=STUDENT, begindatum=date(2025, 9, 29), einddatum=date(2025, 10, 28)))
    accept(store, "m-2", report)
    assert evaluate(store, date(2025, 11, 6)) == {}
    assert store.list_signals() == []
    assert {(s["signaal"], s["state"]) for s in store.list_signals(include_closed=True)} == {
        ("zestien_uur", "closed"), ("meldtermijn_verstreken", "closed")}
    assert store.signal_counts() == {("zestien_uur", "closed"): 1,
                                     ("meldtermijn_verstreken", "closed"): 1}


def test_changed_students_are_those_written_since(store: Store) -> None:
    accept(store, "m-1", *regs(), now=T0)
    [student] = store.signal_students()
    assert student[:2] == ("acme", "00AA")
    assert store.signal_students(T0 - timedelta(seconds=1)) == [student]
    assert store.signal_students(T0) == []


def test_a_report_typed_into_duos_web_counter_is_no_student_for_signals(store: Store) -> None:
    from adapter.domain.model import Status, Terugmelding
    open_lrv = Terugmelding(meldingsnummer="WEB-1", status=Status.R, laatste_mutatie=T0,
                            brin="00AA", verzuimsoort="LRV", begindatum=date(2025, 9, 1))
    store.apply_feedback([open_lrv], watermark=T0, name="fb")
    assert store.signal_students() == []
    assert evaluate(store, date(2025, 12, 1)) == {} and signal_events(store) == []
