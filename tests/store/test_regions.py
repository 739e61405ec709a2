"""Regional agreements in the store (SQLite and PostgreSQL): a V4 report a municipality
does not want is held, never sent, signalled once, and released when allowed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from adapter.domain.calendar import Calendars, SchoolCalendar
from adapter.domain.model import Student, Verzuimsoort
from adapter.domain.regions import RegionalAgreements
from adapter.store import IncomingReport, Store

from .factories import T0, melding

NO_V4 = RegionalAgreements(no_v4=frozenset({"0307"}))
STUDENT = Student(bsn="123456782", leerlingnummer="403117", gemeentecode="0307")
HELD_DATA = {"signaal": "regionale_afspraak", "leerlingnummer": "403117",
             "begindatum": "2025-02-03", "einddatum": "2025-02-28", "uren": 0,
             "reden": "gemeente 0307 wil geen V4-meldingen (regionale afspraak)",
             "meld_uiterlijk": None}


def v4(source_id: str = "r1", student: Student = STUDENT, **kw: Any) -> IncomingReport:
    return IncomingReport(vendor="acme", melding=melding(
        source_id, student=student, verzuimsoort=Verzuimsoort.V4,
        einddatum=date(2025, 2, 28), **kw))


def accept(store: Store, message_id: str, *items: Any,
           agreements: RegionalAgreements = NO_V4, at: Any = T0) -> Any:
    return store.accept(message_id=message_id, vendor="acme", routing_key="acme.export",
                        items=list(items), now=at, agreements=agreements)


def signal_events(store: Store) -> list[tuple[str | None, dict[str, object]]]:
    return [(e.source_id, e.data) for _, e in store.pending_events(100) if e.event == "signaal"]


def states(store: Store) -> dict[str, str]:
    return {r.source_id: r.state for r in store.list_reports()}


def test_a_v4_report_the_municipality_does_not_want_is_held_and_signalled_once(
        store: Store) -> None:
    result = accept(store, "m-1", v4())
    assert result.new_reports == 1
    assert states(store) == {"r1": "held"}
    assert store.claim_due(limit=10, now=T0 + timedelta(hours=1)) == []
    assert store.counts()["submissions"] == {}
    assert signal_events(store) == [("r1", HELD_DATA)]
    # the same export again, and a new message with the same content: nothing new
    accept(store, "m-1", v4())
    assert accept(store, "m-2", v4()).unchanged_reports == 1
    assert len(signal_events(store)) == 1
    [listed] = store.list_signals()
    assert (listed["signaal"], listed["state"]) == ("regionale_afspraak", "open")
    assert "123456782" not in str(store.list_signals()) + str(signal_events(store))
    assert [r.source_id for r in store.list_reports(state="held")] == ["r1"]
    detail = store.report_detail(store.list_reports()[0].report_id)
    assert detail is not None
    assert any(h["event"] == "regional_agreement" and "0307" in h["detail"]
               for h in detail["history"])


def test_unknown_municipality_other_kinds_and_no_agreements_are_sent(store: Store) -> None:
    accept(store, "m-1",
           v4("unknown", student=Student(bsn="123456782", gemeentecode="0344")),
           v4("no-code", student=Student(bsn="111222333")),
           IncomingReport(vendor="acme", melding=melding("v3", bsn="999990019", student=Student(
               bsn="999990019", gemeentecode="0307"))))
    accept(store, "m-2", v4("no-config", student=Student(bsn="999990020", gemeentecode="0307")),
           agreements=RegionalAgreements())
    assert set(states(store).values()) == {"queued"}
    claimed = store.claim_due(limit=10, now=T0 + timedelta(hours=1))
    assert sorted(c.melding.source_id for c in claimed) == ["no-code", "no-config", "unknown",
                                                             "v3"]
    assert signal_events(store) == []


def test_a_held_report_blocks_none_of_the_students_other_reports(store: Store) -> None:
    accept(store, "m-1", v4("r1"))
    accept(store, "m-2", IncomingReport(vendor="acme", melding=melding(
        "luxe", student=STUDENT, verzuimsoort=Verzuimsoort.L)), at=T0 + timedelta(minutes=1))
    [claim] = store.claim_due(limit=10, now=T0 + timedelta(hours=1))
    assert claim.melding.source_id == "luxe"


def test_held_reports_are_released_when_the_agreements_allow(store: Store) -> None:
    accept(store, "m-1", v4("r1"), v4("r2", student=Student(bsn="999990019",
                                                            gemeentecode="0363")))
    assert states(store) == {"r1": "held", "r2": "queued"}
    assert store.release_held(NO_V4, now=T0 + timedelta(minutes=1)) == 0
    assert store.release_held(RegionalAgreements(no_v4=frozenset({"0344"})),
                              now=T0 + timedelta(minutes=2)) == 1
    assert states(store) == {"r1": "queued", "r2": "queued"}
    claimed = store.claim_due(limit=10, now=T0 + timedelta(hours=1))
    assert sorted(c.melding.source_id for c in claimed) == ["r1", "r2"]
    [listed] = store.list_signals(include_closed=True)
    assert listed["state"] == "closed"
    assert len(signal_events(store)) == 1          # closing publishes nothing
    assert store.release_held(RegionalAgreements()) == 0


def test_a_new_version_of_a_held_report_is_judged_again(store: Store) -> None:
    accept(store, "m-1", v4("r1"), v4("r2", student=Student(bsn="999990019",
                                                            gemeentecode="0307")))
    moved = Student(bsn="123456782", leerlingnummer="403117", gemeentecode="0344")
    later = T0 + timedelta(minutes=5)
    assert accept(store, "m-2", v4("r1", student=moved),
                  v4("r2", student=Student(bsn="999990019", gemeentecode="0307"),
                     deleted=True), at=later).updated_reports == 2
    assert states(store) == {"r1": "queued", "r2": "withdrawn"}
    [claim] = store.claim_due(limit=10, now=later + timedelta(hours=1))
    assert (claim.melding.source_id, claim.operation.value) == ("r1", "aanleveren")
    assert claim.melding.student.gemeentecode == "0344"
    assert {s["state"] for s in store.list_signals(include_closed=True)} == {"closed"}


def test_a_held_report_still_held_keeps_its_new_content(store: Store) -> None:
    accept(store, "m-1", v4("r1"))
    assert accept(store, "m-2", v4("r1", toelichting="nieuw"),
                  at=T0 + timedelta(minutes=1)).updated_reports == 1
    assert states(store) == {"r1": "held"}
    assert store.claim_due(limit=10, now=T0 + timedelta(hours=1)) == []
    assert len(signal_events(store)) == 1
    store.release_held(RegionalAgreements(), now=T0 + timedelta(minutes=2))
    [claim] = store.claim_due(limit=10, now=T0 + timedelta(hours=1))
    assert claim.melding.toelichting == "nieuw"


def test_a_queued_report_that_becomes_held_is_not_sent(store: Store) -> None:
    other = Student(bsn="123456782", leerlingnummer="403117", gemeentecode="0344")
    accept(store, "m-1", v4("r1", student=other))
    assert states(store) == {"r1": "queued"}
    accept(store, "m-2", v4("r1"), at=T0 + timedelta(minutes=1))   # moved to 0307
    assert states(store) == {"r1": "held"}
    assert store.claim_due(limit=10, now=T0 + timedelta(hours=1)) == []
    assert store.counts()["submissions"] == {"cancelled": 1}
    assert len(signal_events(store)) == 1


def test_a_rejected_report_corrected_into_a_held_one_is_not_resent(store: Store) -> None:
    other = Student(bsn="123456782", leerlingnummer="403117", gemeentecode="0344")
    accept(store, "m-1", v4("r1", student=other))
    [claim] = store.claim_due(limit=10, now=T0 + timedelta(hours=1))
    store.mark_rejected(claim.submission_id, errors=[("VZ007", "x")])
    accept(store, "m-2", v4("r1"), at=T0 + timedelta(hours=2))
    assert states(store) == {"r1": "held"}
    assert store.claim_due(limit=10, now=T0 + timedelta(hours=3)) == []


def test_the_signaler_leaves_the_held_signal_open(store: Store) -> None:
    accept(store, "m-1", v4("r1"))
    store.evaluate_signals(store.signal_students(),
                           calendars=Calendars(default=SchoolCalendar.build(region="midden")),
                           today=date(2025, 3, 10))
    [listed] = store.list_signals()
    assert (listed["signaal"], listed["state"]) == ("regionale_afspraak", "open")


def test_a_report_without_gemeentecode_takes_its_students_registrations(store: Store) -> None:
    """Eduarte's report export has no Woongemeentecode; its registrations do."""
    from adapter.domain.model import Registratie
    from adapter.store import IncomingRegistratie

    def reg(source_id: str, day: date, code: str | None) -> IncomingRegistratie:
        return IncomingRegistratie(vendor="acme", registratie=Registratie(
            source_id=source_id, brin="00AA", datum=day, hele_dag=True,
            student=Student(bsn="123456782", gemeentecode=code)))

    bare = Student(bsn="123456782", leerlingnummer="403117")
    accept(store, "m-1", reg("w1", date(2025, 2, 3), "0344"), reg("w2", date(2025, 2, 4), "0307"),
           reg("w3", date(2025, 2, 5), None), v4("r1", student=bare))
    accept(store, "m-2", v4("r2", student=Student(bsn="999990019")))   # no registrations
    assert states(store) == {"r1": "held", "r2": "queued"}
    [(_, data)] = signal_events(store)
    assert data["reden"] == HELD_DATA["reden"]
    # the student moved: a newer registration in the report's period names a
    # municipality without agreement, and the refreshed report is judged again
    accept(store, "m-3", reg("w4", date(2025, 2, 6), "0344"), at=T0 + timedelta(minutes=1))
    assert states(store) == {"r1": "queued", "r2": "queued"}
    claimed = store.claim_due(limit=10, now=T0 + timedelta(hours=1))
    assert sorted(c.melding.source_id for c in claimed) == ["r1", "r2"]
    assert {s["state"] for s in store.list_signals(include_closed=True)} == {"closed"}


def test_a_held_report_covers_its_period_for_the_other_signals(store: Store) -> None:
    """The school did report: a held V4 report keeps zestien_uur from being raised."""
    from adapter.domain.model import Registratie
    from adapter.store import IncomingRegistratie

    mondays = [date(2025, 9, 29), date(2025, 10, 6), date(2025, 10, 13), date(2025, 10, 27)]
    regs = [IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id=f"w-{m + timedelta(days=d)}", brin="00AA", student=STUDENT,
        datum=m + timedelta(days=d), lesuren=(1, 2))) for m in mondays for d in (0, 1)]
    report = IncomingReport(vendor="acme", melding=melding(
        "r1", student=STUDENT, verzuimsoort=Verzuimsoort.V4, begindatum=date(2025, 9, 29),
        einddatum=date(2025, 10, 28)))
    accept(store, "m-1", *regs, report)
    assert states(store) == {"r1": "held"}
    raised = store.evaluate_signals(
        store.signal_students(), calendars=Calendars(default=SchoolCalendar.build(
            region="midden")), today=date(2025, 11, 10), count="lessons")
    assert dict(raised) == {}
    assert [s["signaal"] for s in store.list_signals()] == ["regionale_afspraak"]


def test_held_again_after_a_release_is_signalled_again(store: Store) -> None:
    other = Student(bsn="123456782", leerlingnummer="403117", gemeentecode="0344")
    accept(store, "m-1", v4("r1"))
    accept(store, "m-2", v4("r1", student=other), at=T0 + timedelta(minutes=1))   # released
    accept(store, "m-3", v4("r1"), at=T0 + timedelta(minutes=2))                  # held again
    assert states(store) == {"r1": "held"}
    assert store.claim_due(limit=10, now=T0 + timedelta(hours=1)) == []
    assert [d for _, d in signal_events(store)] == [HELD_DATA, HELD_DATA]
    assert sorted(s["state"] for s in store.list_signals(include_closed=True)) == [
        "closed", "open"]
