"""Claims, outcomes, ordering and concurrency of submissions (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from adapter.store import ExchangeRecord, IllegalTransition, Store, UnknownSubmission
from adapter.store import schema as t

from .factories import CONTEXT, T0, accept, report

LATER = T0 + timedelta(days=1)


def test_per_student_ordering(store: Store) -> None:
    accept(store, "m-1", report("a1", bsn="111"), report("b1", bsn="222"),
           report("a2", bsn="111"))
    first = store.claim_due(limit=10, now=LATER)
    assert sorted(c.melding.source_id for c in first) == ["a1", "b1"]
    a1 = next(c for c in first if c.melding.source_id == "a1")
    # A retry in the future still holds back the student's next report.
    store.retry_later(a1.submission_id, at=LATER + timedelta(hours=1), error="HTTP 503")
    assert store.claim_due(limit=10, now=LATER) == []
    [again] = store.claim_due(limit=10, now=LATER + timedelta(hours=1))
    assert (again.melding.source_id, again.attempt) == ("a1", 2)
    store.mark_registered(again.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0)
    [a2] = store.claim_due(limit=10, now=LATER)
    assert a2.melding.source_id == "a2"


def test_not_due_is_not_claimed_and_oldest_first(store: Store) -> None:
    accept(store, "m-1", report("r1", bsn="1"), now=T0)
    accept(store, "m-2", report("r2", bsn="2"), now=T0 + timedelta(minutes=5))
    assert store.claim_due(limit=10, now=T0 - timedelta(seconds=1)) == []
    [one] = store.claim_due(limit=1, now=LATER)
    assert one.melding.source_id == "r1"
    assert store.oldest_pending() == T0


def test_recover_interrupted_then_reconcile_keeps_document_id(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    assert store.recover_interrupted() == 1
    assert store.counts()["submissions"] == {"unknown": 1}
    assert store.claim_due(limit=5, now=LATER) == []          # unknown is never resent blindly
    [rec] = store.claim_unknown(limit=5)
    assert (rec.document_id, rec.attempt) == (claim.document_id, 1)
    store.retry_later(rec.submission_id, at=T0, error="not found at DUO")
    [resend] = store.claim_due(limit=5, now=LATER)
    assert (resend.document_id, resend.attempt) == (claim.document_id, 2)
    store.mark_unknown(resend.submission_id, error="read timeout")
    assert store.recover_interrupted() == 0


def test_release_gives_back_the_attempt(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.release(claim.submission_id)
    [again] = store.claim_due(limit=5, now=LATER)
    assert again.attempt == 1
    store.mark_unknown(again.submission_id, error="read timeout")
    with pytest.raises(IllegalTransition):
        store.release(again.submission_id)                     # unknown cannot be released
    assert store.counts()["submissions"] == {"unknown": 1}


def test_illegal_transitions_are_refused(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0)
    with pytest.raises(IllegalTransition) as info:
        store.retry_later(claim.submission_id, at=T0, error="late")
    assert "done -> pending" in str(info.value)
    with pytest.raises(IllegalTransition):
        store.mark_registered(claim.submission_id, meldingsnummer="N2", status="R",
                              laatste_mutatie=T0)
    with pytest.raises(UnknownSubmission):
        store.mark_failed(999_999, reason="x")
    # the refused calls rolled back completely
    assert store.counts()["submissions"] == {"done": 1}
    assert store.list_reports()[0].meldingsnummer == "N1"


def test_rejected_and_failed_events(store: Store) -> None:
    accept(store, "m-1", report("r1", bsn="1"), report("r2", bsn="2"))
    c1, c2 = store.claim_due(limit=5, now=LATER)
    store.mark_rejected(c1.submission_id, errors=[("F001", "BSN onbekend"), ("F002", "x")])
    store.mark_failed(c2.submission_id, reason="gave up after 8 attempts")
    events = {e.event: e for _, e in store.pending_events(limit=10)}
    assert events["rejected"].message_id == f"rejected:{c1.document_id}"
    assert events["rejected"].data == {
        **CONTEXT, "errors": [
                {"code": "F001", "field": None, "rule": "BSN onbekend", "text": "BSN onbekend"},
                {"code": "F002", "field": None, "rule": "x", "text": "x"}],
        "operation": "aanleveren"}
    assert events["failed"].message_id == f"failed:{c2.document_id}"
    assert events["failed"].data == {**CONTEXT, "reason": "gave up after 8 attempts", "attempts": 1,
                                     "operation": "aanleveren"}
    assert store.counts()["reports"] == {"rejected": 1, "failed": 1}


def test_registered_event(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0)
    [(_, event)] = store.pending_events(limit=10)
    assert (event.message_id, event.vendor, event.brin, event.source_id) == (
        f"registered:{claim.document_id}", "acme", "00AA", "r1")
    assert event.data == {**CONTEXT, "meldingsnummer": "N1", "status": "R",
                          "business_document_id": claim.document_id, "operation": "aanleveren"}


def test_exchanges_are_kept_and_detail_has_no_xml(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    record = ExchangeRecord(
        operation="aanleverenVerzuimmelding", document_id=claim.document_id,
        message_id="urn:uuid:1", request_xml=b"<req>123456782</req>",
        response_xml=b"<resp/>", http_status=200, outcome="ok", started_at=T0,
        duration_ms=42, submission_id=claim.submission_id)
    store.record_exchange(record)
    assert store.exchanges_for(claim.report_id) == [record]
    detail = store.report_detail(claim.report_id)
    assert detail is not None
    assert detail["exchanges"][0]["outcome"] == "ok"
    assert "request_xml" not in detail["exchanges"][0]
    assert "payload" not in detail["submissions"][0]
    assert "123456782" not in repr(detail)
    assert store.report_detail(999_999) is None


def test_concurrent_claims_never_share_a_submission(store: Store) -> None:
    accept(store, "m-1", *[report(f"r{i}", bsn=f"{i:09d}") for i in range(40)])
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            while True:
                got = store.claim_due(limit=3, now=LATER)
                if not got:
                    return
                with lock:
                    claimed.extend(c.submission_id for c in got)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert not errors
    assert len(claimed) == len(set(claimed)) == 40
    assert store.counts()["submissions"] == {"submitting": 40}


def test_unreadable_stored_payload_fails_instead_of_blocking(store: Store) -> None:
    accept(store, "m-1", report("r1", bsn="1"), report("r2", bsn="2"))
    with store.database.engine.begin() as conn:
        conn.execute(sa.update(t.submissions).where(t.submissions.c.id == 1)
                     .values(payload={"source_id": "r1"}))
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.melding.source_id == "r2"
    assert store.counts()["submissions"] == {"failed": 1, "submitting": 1}
    [(_, event)] = store.pending_events(limit=5)
    assert event.event == "failed" and "stored payload unreadable" in event.data["reason"]


def test_a_failed_look_up_postpones_the_reconciliation_and_counts(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_unknown(claim.submission_id, error="read timeout")    # due at once
    [rec] = store.claim_unknown(limit=5)
    assert rec.attempt == 1
    store.mark_unknown(rec.submission_id, error="look-up failed", count_attempt=True,
                       at=datetime.now(timezone.utc) + timedelta(hours=1))
    assert store.claim_unknown(limit=5) == []                         # backing off
    with store.database.engine.begin() as conn:                       # … until it is due
        conn.execute(t.submissions.update().values(next_attempt_at=T0))
    [again] = store.claim_unknown(limit=5)
    assert (again.document_id, again.attempt) == (claim.document_id, 2)


def test_duos_version_is_kept_in_the_history_and_a_newer_stamp_taken(store: Store) -> None:
    from adapter.domain.model import Status, Terugmelding
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer="N1", status="R",
                          laatste_mutatie=T0 + timedelta(hours=1))
    accept(store, "m-2", report("r1", einddatum=T0.date()))
    [amend] = store.claim_due(limit=5, now=LATER)
    assert (amend.duo_status, amend.laatste_mutatie) == ("R", T0 + timedelta(hours=1))
    store.record_duo_version(amend.submission_id, Terugmelding(
        "N1", Status.B, T0 + timedelta(hours=2)))
    store.record_duo_version(amend.submission_id, Terugmelding(        # older: history only
        "N1", Status.R, T0 + timedelta(minutes=30)))
    [summary] = store.list_reports()
    assert (summary.state, summary.duo_status) == ("registered", "B")
    detail = store.report_detail(summary.report_id)
    assert detail is not None
    assert [h["detail"] for h in detail["history"] if h["event"] == "duo_version"] == [
        f"meldingsnummer N1 status B laatste_mutatie {(T0 + timedelta(hours=2)).isoformat()}",
        f"meldingsnummer N1 status R laatste_mutatie {(T0 + timedelta(minutes=30)).isoformat()}"]
    store.retry_later(amend.submission_id, at=T0, error="stale stamp")
    [again] = store.claim_due(limit=5, now=LATER)
    assert (again.duo_status, again.laatste_mutatie) == ("B", T0 + timedelta(hours=2))
