"""Follow-ups by cloning (``meldingen clone``), and DUO's cadence for every follow-up (AD023).

SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from adapter.domain.model import Registratie, Student, Verzuimdag, Verzuimsoort
from adapter.store import CloneRefused, IncomingRegistratie, Store
from adapter.store import schema as t

from .factories import T0, accept, report

LATER = T0 + timedelta(days=1)
TODAY = date(2025, 3, 3)
STUDENT = Student(bsn="123456782", leerlingnummer="403117")


def _register(store: Store, source_id: str, nummer: str) -> int:
    claims = store.claim_due(limit=10, now=LATER)
    [claim] = [c for c in claims if c.melding.source_id == source_id]
    for other in claims:
        if other is not claim:
            store.release(other.submission_id)
    store.mark_registered(claim.submission_id, meldingsnummer=nummer, status="R",
                          laatste_mutatie=T0)
    return claim.report_id


def _registered_v3(store: Store, source_id: str = "a1", **kw: object) -> int:
    """V3 2025-02-03 … 2025-02-11, registered as DUO's number 4711."""
    accept(store, f"m-{source_id}", report(source_id, student=STUDENT,
                                           einddatum=date(2025, 2, 11), **kw))
    return _register(store, source_id, "4711")


def _rejected_codes(store: Store) -> dict[str, list[str]]:
    return {event.source_id or "": [e["code"] for e in event.data["errors"]]
            for _, event in store.pending_events(100) if event.event == "rejected"}


def test_clone_queues_a_follow_up_sent_with_duos_number(store: Store) -> None:
    first = _registered_v3(store)
    accept(store, "m-regs", IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id="w1@2025-02-13", brin="00AA", student=STUDENT, datum=date(2025, 2, 13),
        lesuren=(2, 3))))
    cloned = store.clone(first, einddatum=date(2025, 2, 20), today=TODAY, now=LATER)
    assert cloned.source_id == "a1/vervolg-1" and cloned.report_id != first
    [claim] = store.claim_due(limit=10, now=LATER)
    m = claim.melding
    assert (claim.report_id, claim.operation.value) == (cloned.report_id, "aanleveren")
    assert (m.source_id, m.vervolg_op) == ("a1/vervolg-1", "4711")    # DUO's number
    assert (m.begindatum, m.einddatum) == (date(2025, 2, 12), date(2025, 2, 20))
    assert (m.student, m.verzuimsoort, m.brin) == (STUDENT, Verzuimsoort.V3, "00AA")
    assert m.melder.naam == "M. Elder"
    assert m.verzuimdagen == (Verzuimdag(date(2025, 2, 13), lesuren=(2, 3)),)  # registrations
    with store.database.engine.connect() as conn:
        stored = conn.execute(sa.select(t.reports.c.record).where(
            t.reports.c.id == cloned.report_id)).scalar_one()
        events = conn.execute(sa.select(t.report_history.c.event).where(
            t.report_history.c.report_id == cloned.report_id)).scalars().all()
    assert stored["vervolg_op"] == "a1"                  # the SIS's id until it is sent
    assert "cloned" in events and "submission_queued" in events


def test_clone_numbers_are_the_first_free(store: Store) -> None:
    first = _registered_v3(store)
    one = store.clone(first, einddatum=date(2025, 2, 20), today=TODAY, now=LATER)
    two = store.clone(first, begindatum=date(2025, 2, 24), einddatum=date(2025, 2, 28),
                      today=TODAY, now=LATER)
    assert (one.source_id, two.source_id) == ("a1/vervolg-1", "a1/vervolg-2")


def test_refusals_store_nothing(store: Store) -> None:
    first = _registered_v3(store)
    accept(store, "m-q", report("q1", bsn="111222333", einddatum=date(2025, 2, 11)))
    queued = [r.report_id for r in store.list_reports() if r.source_id == "q1"][0]
    cases = [
        (dict(report_id=999, einddatum=date(2025, 2, 20)), "no report with id 999"),
        (dict(report_id=queued, einddatum=date(2025, 2, 20)), "not registered"),
        (dict(report_id=first), "--einddatum"),                              # V3 needs one
        (dict(report_id=first, begindatum=date(2025, 2, 6),
              einddatum=date(2025, 2, 20)), "AD023"),                         # 3 days after
        (dict(report_id=first, einddatum=date(2025, 2, 10)), "VZ010"),        # ends before
        (dict(report_id=first, einddatum=date(2025, 4, 1)), "VZ012"),         # in the future
    ]
    for kwargs, expected in cases:
        rid = kwargs.pop("report_id")
        with pytest.raises(CloneRefused, match=expected) as info:
            store.clone(rid, today=TODAY, now=LATER, **kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(info.value) and "123456782" not in str(info.value)
    assert len(store.list_reports()) == 2


def test_open_ended_kind_clones_without_einddatum(store: Store) -> None:
    accept(store, "m-1", report("o1", verzuimsoort=Verzuimsoort.V4, einddatum=date(2025, 2, 11)))
    first = _register(store, "o1", "4711")
    with pytest.raises(CloneRefused, match="--einddatum"):
        store.clone(first, today=TODAY, now=LATER)
    accept(store, "m-2", report("l1", bsn="111222333", verzuimsoort=Verzuimsoort.LRV,
                                student=Student(bsn="111222333", geboortedatum=date(2010, 1, 1))))
    lrv = _register(store, "l1", "4712")
    with pytest.raises(CloneRefused, match="--begindatum"):      # nothing to follow
        store.clone(lrv, today=TODAY, now=LATER)
    cloned = store.clone(lrv, begindatum=date(2025, 2, 17), today=TODAY, now=LATER)
    [claim] = store.claim_due(limit=10, now=LATER)
    assert claim.report_id == cloned.report_id and claim.melding.einddatum is None


def test_a_follow_up_from_the_sis_within_7_days_is_rejected_unsent(store: Store) -> None:
    _registered_v3(store)
    accept(store, "m-2", report("f3", student=STUDENT, vervolg_op="a1",
                                begindatum=date(2025, 2, 6), einddatum=date(2025, 2, 14)),
           report("f7", bsn="111222333", vervolg_op="b1", begindatum=date(2025, 2, 6)))
    assert store.claim_due(limit=10, now=LATER) == []
    codes = _rejected_codes(store)
    assert (codes["f3"], codes["f7"]) == (["AD023"], ["AD020"])
    assert {r.source_id: r.state for r in store.list_reports()}["f3"] == "rejected"


def test_a_follow_up_7_days_after_is_sent(store: Store) -> None:
    _registered_v3(store)
    accept(store, "m-2", report("f7", student=STUDENT, vervolg_op="a1",
                                begindatum=date(2025, 2, 10), einddatum=date(2025, 2, 14)))
    [claim] = store.claim_due(limit=10, now=LATER)
    assert (claim.melding.source_id, claim.melding.vervolg_op) == ("f7", "4711")
