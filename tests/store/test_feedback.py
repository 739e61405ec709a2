"""Feedback dedupe and watermark, the outbox relay's view, and the status views."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

from adapter.domain.model import Behandelaar, Status, Terugmelding
from adapter.store import Store
from adapter.store.common import EVENT_NAMESPACE

from .factories import CONTEXT, T0, accept, report

LATER = T0 + timedelta(days=1)


def _registered(store: Store, nr: str = "MN-1") -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer=nr, status="R",
                          laatste_mutatie=T0)
    store.mark_published([i for i, _ in store.pending_events(limit=10)])


def _tm(nr: str, status: Status, hours: int) -> Terugmelding:
    return Terugmelding(
        meldingsnummer=nr, status=status, laatste_mutatie=T0 + timedelta(hours=hours),
        reden="gesprek gevoerd", toelichting="zie dossier",
        behandelaar=Behandelaar(naam="L. Plicht", telefoonnummer="0101234567",
                                emailadres="lp@gemeente.nl", organisatie="Gemeente X"))


def test_feedback_dedupe_and_watermark(store: Store) -> None:
    _registered(store)
    assert store.get_watermark("feedback") is None
    items = [_tm("MN-1", Status.B, 1), _tm("UNKNOWN-9", Status.B, 1)]
    assert store.apply_feedback(items, watermark=T0 + timedelta(hours=2), name="feedback") == 1
    assert store.get_watermark("feedback") == T0 + timedelta(hours=2)
    # the same poll again (e.g. after a crash before the watermark was used): no new events
    assert store.apply_feedback(items, watermark=T0 + timedelta(hours=3), name="feedback") == 0
    assert store.get_watermark("feedback") == T0 + timedelta(hours=3)
    [(_, event)] = store.pending_events(limit=10)
    mutation = (T0 + timedelta(hours=1)).isoformat()
    assert event.event == "terugmelding"
    assert event.message_id == str(uuid.uuid5(EVENT_NAMESPACE, f"MN-1\x1f{mutation}"))
    assert event.data == {
        **CONTEXT, "meldingsnummer": "MN-1", "status": "B", "reden": "gesprek gevoerd",
        "toelichting": "zie dossier",
        "behandelaar": {"naam": "L. Plicht", "telefoonnummer": "0101234567",
                        "emailadres": "lp@gemeente.nl", "organisatie": "Gemeente X"},
        "laatste_mutatie": mutation}
    assert store.list_reports()[0].duo_status == "B"


def test_newest_mutation_decides_status_and_I_withdraws(store: Store) -> None:
    _registered(store)
    assert store.apply_feedback([_tm("MN-1", Status.I, 5)], watermark=T0, name="fb") == 1
    assert store.apply_feedback([_tm("MN-1", Status.B, 2)], watermark=T0, name="fb") == 1
    [summary] = store.list_reports()
    assert (summary.state, summary.duo_status) == ("withdrawn", "I")
    assert len(store.pending_events(limit=10)) == 2   # both mutations reach the SIS


def test_outbox_pending_and_published(store: Store) -> None:
    _registered(store)
    store.apply_feedback([_tm("MN-1", Status.B, 1), _tm("MN-1", Status.G, 2)],
                         watermark=T0, name="fb")
    pending = store.pending_events(limit=10)
    assert [e.data["status"] for _, e in pending] == ["B", "G"]      # oldest first
    assert [e for _, e in store.pending_events(limit=1)] == [pending[0][1]]
    store.mark_published([pending[0][0]])
    assert [i for i, _ in store.pending_events(limit=10)] == [pending[1][0]]
    assert store.counts()["outbox"] == {"pending": 1, "published": 2}
    store.mark_published([pending[1][0], pending[1][0]])
    assert store.pending_events(limit=10) == []
    assert all(e.created_at is not None and e.created_at.tzinfo for _, e in pending)


def test_views(store: Store) -> None:
    accept(store, "m-1", report("r1", bsn="1"), report("r2", bsn="2"))
    [c1, _] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(c1.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0)
    assert store.counts() == {"reports": {"registered": 1, "queued": 1},
                              "submissions": {"done": 1, "submitting": 1},
                              "outbox": {"pending": 1, "published": 0}}
    assert [r.source_id for r in store.list_reports()] == ["r2", "r1"]
    assert [r.source_id for r in store.list_reports(state="registered")] == ["r1"]
    assert len(store.list_reports(limit=1)) == 1
    detail = store.report_detail(c1.report_id)
    assert detail is not None
    events = [h["event"] for h in detail["history"]]
    assert events == ["received", "submission_queued", "claimed", "registered",
                      "report_registered"]


def test_feedback_before_reconciliation_is_matched_by_document_id(store: Store) -> None:
    """DUO registered it but our answer was lost: its feedback must not be skipped."""
    from dataclasses import replace
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_unknown(claim.submission_id, error="ReadTimeout")
    item = replace(_tm("MN-7", Status.B, 1), identificatiecode_bedrijfsdocument=claim.document_id)
    stranger = replace(_tm("MN-8", Status.B, 1), identificatiecode_bedrijfsdocument=str(uuid.uuid4()))
    assert store.apply_feedback([item, stranger], watermark=LATER, name="fb") == 1
    [(_, event)] = store.pending_events(limit=10)
    assert (event.event, event.source_id, event.data["meldingsnummer"]) == (
        "terugmelding", "r1", "MN-7")
    # reconciliation later stores the meldingsnummer; the same feedback stays deduplicated
    [again] = store.claim_unknown(limit=5)
    store.mark_registered(again.submission_id, meldingsnummer="MN-7", status="B",
                          laatste_mutatie=T0 + timedelta(hours=1))
    assert store.apply_feedback([item], watermark=LATER, name="fb") == 0


def test_a_wijzigen_after_feedback_carries_the_feedbacks_stamp(store: Store) -> None:
    """The poller keeps the newest feedback's stamp on the report: the next wijzigen
    sends it (and its status), a late older one does not roll it back."""
    _registered(store)
    store.apply_feedback([_tm("MN-1", Status.B, 3)], watermark=T0, name="fb")
    store.apply_feedback([_tm("MN-1", Status.R, 2)], watermark=T0, name="fb")
    accept(store, "m-2", report("r1", einddatum=T0.date()))
    [amend] = store.claim_due(limit=5, now=LATER)
    assert amend.operation.value == "wijzigen"
    assert (amend.laatste_mutatie, amend.duo_status) == (T0 + timedelta(hours=3), "B")


def _web(nr: str, status: Status, hours: int, **changes: object) -> Terugmelding:
    from dataclasses import replace
    from datetime import date
    values: dict[str, object] = dict(brin="00AA", verzuimsoort="L", begindatum=date(2025, 2, 10),
                                     einddatum=date(2025, 2, 12))
    values.update(changes)
    return replace(_tm(nr, status, hours), **values)  # type: ignore[arg-type]


def test_a_report_typed_into_duos_web_counter_is_stored_once_and_followed(store: Store) -> None:
    _registered(store)                      # the BRIN's SIS is "acme": web reports go there
    first = _web("WEB-1", Status.R, 1)
    assert store.apply_feedback([first], watermark=LATER, name="fb") == 1
    assert store.apply_feedback([first], watermark=LATER, name="fb") == 0   # polled again
    web = [r for r in store.list_reports() if r.origin == "web"]
    assert [(r.vendor, r.brin, r.source_id, r.state, r.duo_status, r.meldingsnummer,
             r.verzuimsoort) for r in web] == [
        ("acme", "00AA", None, "registered", "R", "WEB-1", "L")]
    assert {r.origin for r in store.list_reports() if r.meldingsnummer == "MN-1"} == {"adapter"}
    [(_, event)] = store.pending_events(limit=10)
    assert (event.event, event.vendor, event.brin, event.source_id) == (
        "terugmelding", "acme", "00AA", None)
    assert event.data["origin"] == "web"
    assert {k: event.data[k] for k in ("meldingsnummer", "status", "verzuimsoort",
                                       "begindatum", "einddatum")} == {
        "meldingsnummer": "WEB-1", "status": "R", "verzuimsoort": "L",
        "begindatum": "2025-02-10", "einddatum": "2025-02-12"}
    store.mark_published([i for i, _ in store.pending_events(limit=10)])

    # later feedback about it updates the same report (status, officer, period)
    from datetime import date
    later = _web("WEB-1", Status.B, 3, einddatum=date(2025, 2, 14),
                 behandelaar=Behandelaar(naam="A. Ambtenaar", organisatie="Gemeente Y"))
    assert store.apply_feedback([later], watermark=LATER, name="fb") == 1
    [web_report] = [r for r in store.list_reports() if r.origin == "web"]
    assert (web_report.report_id, web_report.duo_status) == (web[0].report_id, "B")
    [(_, event)] = store.pending_events(limit=10)
    assert event.source_id is None and event.data["einddatum"] == "2025-02-14"
    assert event.data["behandelaar"]["naam"] == "A. Ambtenaar"
    detail = store.report_detail(web_report.report_id)
    assert detail is not None and detail["submissions"] == []
    assert [h["event"] for h in detail["history"]] == [
        "received_from_duo", "terugmelding", "terugmelding"]
    # withdrawn at the counter: the report follows
    assert store.apply_feedback([_web("WEB-1", Status.I, 4)], watermark=LATER, name="fb") == 1
    [web_report] = [r for r in store.list_reports() if r.origin == "web"]
    assert (web_report.state, web_report.duo_status) == ("withdrawn", "I")


def test_a_web_report_without_a_known_sis_goes_to_the_default_vendor(store: Store) -> None:
    item = _web("WEB-2", Status.R, 1, brin=None)
    # no BRIN on the item and none given: nothing to file it under, skipped
    assert store.apply_feedback([item], watermark=LATER, name="fb") == 0
    assert store.apply_feedback([item], watermark=LATER, name="fb", brin="00AA",
                                default_vendor="eduarte") == 1
    [summary] = store.list_reports()
    assert (summary.vendor, summary.brin, summary.origin) == ("eduarte", "00AA", "web")


def test_a_web_report_cannot_be_cloned(store: Store) -> None:
    import pytest
    from datetime import date
    from adapter.store.clone import CloneRefused
    store.apply_feedback([_web("WEB-3", Status.R, 1)], watermark=LATER, name="fb")
    [summary] = store.list_reports()
    with pytest.raises(CloneRefused, match="web counter"):
        store.clone(summary.report_id, begindatum=date(2025, 3, 3), today=date(2025, 3, 3))


def test_our_report_adopts_the_web_report_its_feedback_made_before_reconciliation(
        store: Store) -> None:
    """DUO's feed named our report without our document id while our answer was lost:
    stored as a web report first, it is ours once reconciliation learns the number."""
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_unknown(claim.submission_id, error="ReadTimeout")
    early = _web("MN-9", Status.B, 2, verzuimsoort="V3")
    assert store.apply_feedback([early], watermark=LATER, name="fb") == 1
    assert sorted(r.origin for r in store.list_reports()) == ["adapter", "web"]
    [again] = store.claim_unknown(limit=5)
    store.mark_registered(again.submission_id, meldingsnummer="MN-9", status="R",
                          laatste_mutatie=T0 + timedelta(hours=1))
    [ours] = store.list_reports()
    assert (ours.source_id, ours.origin, ours.meldingsnummer, ours.duo_status) == (
        "r1", "adapter", "MN-9", "B")                       # the newer feedback decides
    detail = store.report_detail(ours.report_id)
    assert detail is not None and "web_report_adopted" in [h["event"] for h in detail["history"]]
    # the same feedback again is known (moved with the report), later feedback is ours
    assert store.apply_feedback([early], watermark=LATER, name="fb") == 0
    assert store.apply_feedback([_web("MN-9", Status.G, 3)], watermark=LATER, name="fb") == 1
    [(_, event)] = [(i, e) for i, e in store.pending_events(limit=20)
                    if e.event == "terugmelding" and e.data["status"] == "G"]
    assert event.source_id == "r1" and "origin" not in event.data


def test_one_page_with_two_mutations_of_a_report_applies_them_in_order(store: Store) -> None:
    # The second item must see the report as the first one left it: the older mutation
    # (hour 2) after the newer one (hour 5) is kept, and decides nothing.
    _registered(store)
    page = [_tm("MN-1", Status.I, 5), _tm("MN-1", Status.B, 2)]
    assert store.apply_feedback(page, watermark=T0, name="fb") == 2
    [summary] = store.list_reports()
    assert (summary.state, summary.duo_status) == ("withdrawn", "I")
    assert [e.data["status"] for _, e in store.pending_events(limit=10)] == ["I", "B"]


def test_a_page_reads_its_reports_and_their_registrations_up_front(store: Store) -> None:
    from sqlalchemy import event

    from adapter.domain.model import Registratie, Student
    from adapter.store import IncomingRegistratie

    from e2e.records import make_bsn
    rng = random.Random(11)
    student = Student(bsn="123456782", leerlingnummer="403117")
    accept(store, "m-reg", IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id="w1", brin="00AA", student=student, datum=date(2025, 2, 3), lesuren=(1,))))
    accept(store, "m-1", report("r0", student=student, einddatum=date(2025, 2, 14)),
           *[report(f"r{n}", bsn=make_bsn(rng)) for n in range(1, 10)])
    claims = store.claim_due(limit=20, now=LATER)
    for n, claim in enumerate(sorted(claims, key=lambda c: c.melding.source_id)):
        store.mark_registered(claim.submission_id, meldingsnummer=f"MN-{n}", status="R",
                              laatste_mutatie=T0)
    store.mark_published([i for i, _ in store.pending_events(limit=50)])
    selects: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)
    event.listen(store.database.engine, "before_cursor_execute", count)
    try:
        page = [_tm(f"MN-{n}", Status.B, 1) for n in range(10)]
        assert store.apply_feedback(page, watermark=T0, name="fb") == 10
    finally:
        event.remove(store.database.engine, "before_cursor_execute", count)
    # One look-up of the page's reports, one of their students' registrations: not
    # two per item.
    assert len([s for s in selects if "FROM reports" in s]) == 1
    assert len([s for s in selects if "FROM registraties" in s]) == 1
    events = {e.data["meldingsnummer"]: e.data for _, e in store.pending_events(limit=50)}
    assert events["MN-0"]["registratie_ids"] == ["w1"]
    assert all("registratie_ids" not in events[f"MN-{n}"] for n in range(1, 10))
