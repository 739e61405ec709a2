"""Registrations fill reports' verzuimdagspecificatie, before and after registration."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

from adapter.domain.model import Registratie, Student, Verzuimdag
from adapter.store import IncomingRegistratie, IncomingReport, Store
from adapter.store.common import decode, encode
from adapter.store.registraties import report_context

from .factories import T0, accept, melding

LATER = T0 + timedelta(days=1)
STUDENT = Student(bsn="123456782", leerlingnummer="403117")


def reg(source: str, day: int, lesuren: tuple[int, ...] = (), **kw: object) -> IncomingRegistratie:
    return IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id=source, brin="00AA", student=STUDENT, datum=date(2025, 2, day),
        lesuren=lesuren, **kw))  # type: ignore[arg-type]


def v3() -> IncomingReport:
    return IncomingReport(vendor="acme", melding=melding(
        "r1", student=STUDENT, einddatum=date(2025, 2, 14), verzuimdagen=()))


def sent_days(store: Store) -> tuple[Verzuimdag, ...]:
    [claim] = store.claim_due(limit=5, now=LATER + timedelta(days=30))
    return claim.melding.verzuimdagen


def test_registrations_before_the_report_fill_its_days(store: Store) -> None:
    accept(store, "m-1", reg("w1", 3, (1, 2)), reg("w2", 3, (2, 3)), reg("ziek", 4, (1,),
                                                                          geoorloofd=True))
    result = accept(store, "m-2", v3())
    assert result.new_reports == 1
    assert sent_days(store) == (Verzuimdag(date(2025, 2, 3), lesuren=(1, 2, 3)),)


def test_registrations_in_the_same_message_count(store: Store) -> None:
    accept(store, "m-1", v3(), reg("w1", 5, hele_dag=True))
    assert sent_days(store) == (Verzuimdag(date(2025, 2, 5), hele_dag=True),)


def test_late_registration_replaces_a_queued_payload(store: Store) -> None:
    accept(store, "m-1", v3())
    result = accept(store, "m-2", reg("w1", 6, (4,)))
    assert result.registraties == 1 and result.updated_reports == 1
    assert sent_days(store) == (Verzuimdag(date(2025, 2, 6), lesuren=(4,)),)
    assert store.counts()["submissions"] == {"submitting": 1}


def test_late_registration_amends_a_registered_report(store: Store) -> None:
    accept(store, "m-1", v3(), reg("w1", 3, (1,)))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0)
    accept(store, "m-2", reg("w2", 10, (2, 3)))
    [amend] = store.claim_due(limit=5, now=LATER + timedelta(days=2))
    assert amend.operation.value == "wijzigen" and amend.meldingsnummer == "N1"
    assert amend.melding.verzuimdagen == (Verzuimdag(date(2025, 2, 3), lesuren=(1,)),
                                          Verzuimdag(date(2025, 2, 10), lesuren=(2, 3)))
    [(_, event)] = [e for e in store.pending_events(limit=10) if e[1].event == "registered"]
    assert event.data["registratie_ids"] == ["w1"] and event.data["leerlingnummer"] == "403117"


def test_registration_outside_the_period_or_for_another_student_changes_nothing(
        store: Store) -> None:
    accept(store, "m-1", v3())
    other = IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id="x", brin="00AA", student=Student(bsn="111222333"), datum=date(2025, 2, 4),
        lesuren=(1,)))
    result = accept(store, "m-2", reg("after", 20, (1,)), other)
    assert result.updated_reports == 0
    assert sent_days(store) == ()


def test_deleted_and_stale_versions(store: Store) -> None:
    accept(store, "m-1", v3(), reg("w1", 3, (1,), modified_at=LATER))
    accept(store, "m-2", reg("w1", 3, (1, 2), modified_at=T0))  # older version: ignored
    accept(store, "m-3", reg("w1", 3, (1,), modified_at=LATER + timedelta(hours=1),
                             deleted=True))
    assert sent_days(store) == ()


def test_report_record_is_kept_as_received(store: Store) -> None:
    accept(store, "m-1", v3(), reg("w1", 3, (1,)))
    detail = store.report_detail(store.list_reports()[0].report_id)
    assert detail is not None
    # The record re-published unchanged is unchanged, though its days were merged.
    assert accept(store, "m-2", v3()).unchanged_reports == 1
    with store.database.read("t") as conn:  # white-box: record vs payload
        from adapter.store import schema as t
        row = conn.execute(t.reports.select()).first()
    assert decode(row.record).verzuimdagen == ()
    assert decode(row.payload).verzuimdagen == (Verzuimdag(date(2025, 2, 3), lesuren=(1,)),)


def test_a_shortened_split_registration_retires_its_missing_days(store: Store) -> None:
    accept(store, "m-1", v3(), reg("AM-1@3", 3, hele_dag=True, modified_at=T0),
           reg("AM-1@4", 4, hele_dag=True, modified_at=T0))
    # The SIS shortened AM-1 to one day: its next export lists only the 3rd.
    result = accept(store, "m-2", reg("AM-1@3", 3, hele_dag=True, modified_at=LATER))
    assert result.updated_reports == 1
    assert sent_days(store) == (Verzuimdag(date(2025, 2, 3), hele_dag=True),)
    # An older copy of the long version arriving late changes nothing.
    accept(store, "m-3", reg("AM-1@3", 3, hele_dag=True, modified_at=T0))


def test_a_registration_does_not_revive_a_rejected_report(store: Store) -> None:
    accept(store, "m-1", v3())
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_rejected(claim.submission_id, errors=[("VZ007", "te oud voor V3")])
    result = accept(store, "m-2", reg("w9", 5, (1,)))
    assert result.updated_reports == 0
    assert store.claim_due(limit=5, now=LATER + timedelta(days=2)) == []


def test_a_report_context_without_registrations_reads_the_payload_as_decoding_it_would() -> None:
    """Without registrations the context comes from the stored payload, undecoded: the
    same fields and values as from the decoded report, for reports with and without
    einddatum and leerlingnummer."""
    for record in (melding("a"), melding("b", einddatum=date(2025, 2, 14)),
                   melding("c", student=STUDENT, einddatum=date(2025, 2, 14))):
        payload = encode(record)
        fast = report_context(None, 1, regs=[], row=SimpleNamespace(  # type: ignore[arg-type]
            vendor="acme", student_key="k", payload=payload))
        decoded = decode(payload)
        expected = {"verzuimsoort": decoded.verzuimsoort.value,
                    "begindatum": decoded.begindatum.isoformat()}
        if decoded.einddatum:
            expected["einddatum"] = decoded.einddatum.isoformat()
        if decoded.student.leerlingnummer:
            expected["leerlingnummer"] = decoded.student.leerlingnummer
        assert fast == expected
    assert "leerlingnummer" in fast and "einddatum" in fast   # the last one had both
