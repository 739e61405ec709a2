"""The content check: a report's final content (registrations merged) is judged before
anything is queued for it; what it refuses is a ``rejected`` event, never a submission."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from adapter.domain.model import Registratie, Student, Verzuimsoort
from adapter.domain.rules import ADAPTER_RULES, RULES
from adapter.pipeline.intake import content_check
from adapter.store import IncomingRegistratie, IncomingReport, Store

from .factories import T0, melding

TODAY = date(2025, 2, 14)
CHECK = content_check(TODAY)
LATER = T0 + timedelta(days=1)
STUDENT = Student(bsn="123456782", leerlingnummer="403117")
PHONE = "06-12ab5678"


def accept(store: Store, message_id: str, *items: object):
    return store.accept(message_id=message_id, vendor="acme", routing_key="acme.export",
                        items=list(items), now=T0, check=CHECK)  # type: ignore[arg-type]


def lrv(**changes: object) -> IncomingReport:
    """An open-ended LRV report (no einddatum): its period runs up to today."""
    return IncomingReport(vendor="acme", position="row 4", melding=melding(
        "r1", student=STUDENT, verzuimsoort=Verzuimsoort.LRV, verzuimdagen=(), **changes))


def reg(source: str, day: date, lesuren: tuple[int, ...] = (1, 2)) -> IncomingRegistratie:
    return IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id=source, brin="00AA", student=STUDENT, datum=day, lesuren=lesuren))


def rejected(store: Store) -> list[dict]:
    return [e.data for _, e in store.pending_events(limit=20) if e.event == "rejected"]


def test_a_new_report_the_schema_refuses_is_not_stored(store: Store) -> None:
    report = lrv()
    bad = replace(report, melding=replace(report.melding, melder=replace(
        report.melding.melder, telefoonnummer=PHONE), toelichting_actie_gewenst="x" * 1500))
    result = accept(store, "m-1", bad)
    assert (result.new_reports, result.rejections) == (0, 1)
    assert store.counts()["reports"] == {} and store.counts()["submissions"] == {}
    [event] = rejected(store)
    assert event == {"errors": [
        {"code": "AD002", "field": "toelichting_actie_gewenst",
         "rule": ADAPTER_RULES["AD002"], "text": ADAPTER_RULES["AD002"]},
        {"code": "AD001", "field": "melder.telefoonnummer",
         "rule": ADAPTER_RULES["AD001"], "text": ADAPTER_RULES["AD001"]}],
        "position": "row 4", "operation": "aanleveren"}
    assert PHONE not in str(event) and "xxxx" not in str(event)


def test_registrations_in_the_same_message_make_the_report_invalid(store: Store) -> None:
    # A registration dated after today (a planned absence) would be merged into the
    # open-ended period; DUO refuses days outside the period (VZ013).
    result = accept(store, "m-1", lrv(), reg("w1", date(2025, 2, 20)))
    assert (result.new_reports, result.rejections) == (0, 1)
    assert store.counts()["submissions"] == {}
    [event] = rejected(store)
    assert [(e["code"], e["field"], e["rule"]) for e in event["errors"]] == [
        ("VZ013", "verzuimdagen[0].datum", RULES["VZ013"])]


def test_a_registration_that_makes_a_queued_report_invalid_is_refused(store: Store) -> None:
    assert accept(store, "m-1", lrv(), reg("w1", date(2025, 2, 10))).new_reports == 1
    result = accept(store, "m-2", reg("w2", date(2025, 2, 20)))
    assert (result.updated_reports, result.rejections) == (0, 1)
    # The pending aanleveren keeps the content that passed the check.
    [claim] = store.claim_due(limit=5, now=LATER)
    assert [d.datum for d in claim.melding.verzuimdagen] == [date(2025, 2, 10)]
    [event] = rejected(store)
    assert event["operation"] == "aanleveren" and event["position"] is None
    assert [(e["code"], e["field"]) for e in event["errors"]] == [
        ("VZ013", "verzuimdagen[1].datum")]
    assert event["leerlingnummer"] == "403117"
    detail = store.report_detail(claim.report_id)
    assert detail is not None
    assert "content_refused" in [h["event"] for h in detail["history"]]


def test_a_registration_that_makes_a_registered_report_invalid_sends_nothing(
        store: Store) -> None:
    accept(store, "m-1", lrv(), reg("w1", date(2025, 2, 10)))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0)
    result = accept(store, "m-2", reg("w2", date(2025, 2, 20)))
    assert result.rejections == 1
    assert store.claim_due(limit=5, now=LATER + timedelta(days=2)) == []
    [event] = rejected(store)
    assert event["operation"] == "wijzigen"
    assert [e["code"] for e in event["errors"]] == ["VZ013"]
    # Once the registration is corrected, the report is amended.
    accept(store, "m-3", reg("w2", date(2025, 2, 11)))
    [amend] = store.claim_due(limit=5, now=LATER + timedelta(days=2))
    assert amend.operation.value == "wijzigen"
    assert [d.datum for d in amend.melding.verzuimdagen] == [date(2025, 2, 10),
                                                             date(2025, 2, 11)]


def test_a_refused_new_version_keeps_the_earlier_content(store: Store) -> None:
    accept(store, "m-1", lrv())
    report = lrv(toelichting_actie_ondernomen="y" * 1001)
    result = accept(store, "m-2", report)
    assert (result.updated_reports, result.rejections) == (0, 1)
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.melding.toelichting_actie_ondernomen is None
    [event] = rejected(store)
    assert [(e["code"], e["field"]) for e in event["errors"]] == [
        ("AD002", "toelichting_actie_ondernomen")]
    assert event["position"] == "row 4"


def test_a_withdrawal_is_not_judged_on_content(store: Store) -> None:
    accept(store, "m-1", lrv())
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0)
    gone = lrv(deleted=True, melder=replace(lrv().melding.melder, telefoonnummer=PHONE))
    assert accept(store, "m-2", gone).rejections == 0
    [withdraw] = store.claim_due(limit=5, now=LATER + timedelta(days=2))
    assert withdraw.operation.value == "intrekken"


def test_vervolg_op_is_a_source_id_not_judged_as_a_meldingsnummer(store: Store) -> None:
    # vervolg_op names the SIS's earlier report; DUO's meldingsnummer is sent in its
    # place, so its schema pattern does not apply to the source id.
    result = accept(store, "m-1", lrv(vervolg_op="VM-2025-0101"))
    assert (result.new_reports, result.rejections) == (1, 0)
