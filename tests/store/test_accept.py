"""Store.accept: the inbox is idempotent and the per-report rules hold (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

from adapter.store import IncomingRejection, Store
from adapter.store.common import EVENT_NAMESPACE

from .factories import T0, accept, report

LATER = T0 + timedelta(days=1)


def _subs(store: Store, report_id: int) -> list[dict]:
    detail = store.report_detail(report_id)
    assert detail is not None
    return detail["submissions"]


def test_same_message_twice_changes_nothing(store: Store) -> None:
    rej = IncomingRejection(vendor="acme", brin="00AA", source_id="bad", position="row 3",
                            violations=(("student.bsn", "11-proef", "VZ002"),))
    first = accept(store, "m-1", report("r1"), report("r2", bsn="111222333"), rej)
    assert (first.duplicate_message, first.new_reports, first.rejections) == (False, 2, 1)
    again = accept(store, "m-1", report("r1"), report("r2", bsn="111222333"), rej)
    assert again.duplicate_message is True
    assert (again.new_reports, again.unchanged_reports, again.rejections) == (0, 0, 0)
    counts = store.counts()
    assert counts["reports"] == {"queued": 2}
    assert counts["submissions"] == {"pending": 2}
    assert counts["outbox"]["pending"] == 1


def test_same_record_in_two_messages_is_one_report(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    second = accept(store, "m-2", report("r1"))
    assert (second.duplicate_message, second.new_reports, second.unchanged_reports) == (
        False, 0, 1)
    assert len(store.list_reports()) == 1
    assert store.counts()["submissions"] == {"pending": 1}


def test_new_content_replaces_payload_of_unclaimed_submission(store: Store) -> None:
    accept(store, "m-1", report("r1", toelichting="eerste"))
    [before] = _subs(store, 1)
    result = accept(store, "m-2", report("r1", toelichting="tweede"))
    assert (result.updated_reports, result.new_reports) == (1, 0)
    [after] = _subs(store, 1)
    assert after["document_id"] == before["document_id"]
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.melding.toelichting == "tweede"
    assert claim.document_id == before["document_id"]


def test_older_version_is_ignored(store: Store) -> None:
    accept(store, "m-1", report("r1", toelichting="nieuw", modified_at=LATER))
    result = accept(store, "m-2", report("r1", toelichting="oud", modified_at=T0))
    assert result.unchanged_reports == 1
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.melding.toelichting == "nieuw"


def test_only_modified_at_changed_is_unchanged(store: Store) -> None:
    accept(store, "m-1", report("r1", modified_at=T0))
    result = accept(store, "m-2", report("r1", modified_at=LATER))
    assert result.unchanged_reports == 1 and result.updated_reports == 0


def _register(store: Store, nr: str = "MN-1") -> None:
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer=nr, status="R",
                          laatste_mutatie=T0 + timedelta(hours=1))


def test_new_content_after_registration_queues_wijzigen(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    _register(store)
    result = accept(store, "m-2", report("r1", einddatum=T0.date()))
    assert result.updated_reports == 1
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.operation.value == "wijzigen"
    assert claim.meldingsnummer == "MN-1"
    assert claim.laatste_mutatie == T0 + timedelta(hours=1)
    assert claim.melding.einddatum == T0.date()
    first, second = _subs(store, 1)
    assert first["document_id"] != second["document_id"]
    store.mark_registered(claim.submission_id, meldingsnummer="MN-1", status="R",
                          laatste_mutatie=T0 + timedelta(hours=2))
    assert store.list_reports()[0].state == "registered"


def test_deleted_after_registration_queues_intrekken_and_withdraws(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    _register(store)
    accept(store, "m-2", report("r1", deleted=True))
    [claim] = store.claim_due(limit=5, now=LATER)
    assert claim.operation.value == "intrekken"
    store.mark_registered(claim.submission_id, meldingsnummer="MN-1", status="I",
                          laatste_mutatie=T0 + timedelta(hours=3))
    [summary] = store.list_reports()
    assert (summary.state, summary.duo_status) == ("withdrawn", "I")


def test_deleted_before_sending_cancels(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    accept(store, "m-2", report("r1", deleted=True))
    assert store.claim_due(limit=5, now=LATER) == []
    assert store.counts()["submissions"] == {"cancelled": 1}
    assert store.list_reports()[0].state == "withdrawn"


def test_content_arriving_in_flight_is_sent_after_registration(store: Store) -> None:
    accept(store, "m-1", report("r1", toelichting="v1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    result = accept(store, "m-2", report("r1", toelichting="v2"))
    assert result.updated_reports == 1
    assert store.counts()["submissions"] == {"submitting": 1}   # nothing new while in flight
    store.mark_registered(claim.submission_id, meldingsnummer="MN-9", status="R",
                          laatste_mutatie=T0)
    [follow] = store.claim_due(limit=5)   # the follow-up is due from the real clock
    assert (follow.operation.value, follow.melding.toelichting) == ("wijzigen", "v2")


def test_corrected_record_after_rejection_is_resent(store: Store) -> None:
    accept(store, "m-1", report("r1", toelichting="fout"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_rejected(claim.submission_id, errors=[("F012", "einddatum voor begindatum")])
    assert store.list_reports()[0].state == "rejected"
    accept(store, "m-2", report("r1", toelichting="goed"))
    [again] = store.claim_due(limit=5, now=LATER)
    assert again.operation.value == "aanleveren"
    assert again.document_id != claim.document_id
    assert store.list_reports()[0].state == "queued"


def test_rejection_becomes_outbox_event(store: Store) -> None:
    rej = IncomingRejection(vendor="acme", brin="00AA", source_id="x7", position="row 7",
                            violations=(("student.bsn", "11-proef", "VZ002"), ("begindatum", "required", "AD010")))
    accept(store, "m-1", rej)
    [(_, event)] = store.pending_events(limit=10)
    assert event.event == "rejected" and event.source_id == "x7" and event.brin == "00AA"
    assert event.message_id == str(uuid.uuid5(EVENT_NAMESPACE, "m-1\x1frow 7"))
    assert event.data == {
        "errors": [
            {"code": "VZ002", "field": "student.bsn", "rule": "11-proef",
             "text": "11-proef"},
            {"code": "AD010", "field": "begindatum", "rule": "required",
             "text": "required"}],
        "position": "row 7", "operation": "aanleveren"}
    assert store.counts()["reports"] == {}


def test_concurrent_messages_with_same_record_make_one_report(store: Store) -> None:
    barrier = threading.Barrier(4)
    results = []

    def worker(i: int) -> None:
        barrier.wait()
        results.append(accept(store, f"m-{i}", report("r1"), report(f"own-{i}", bsn=f"9{i}")))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert sum(r.new_reports for r in results) == 5   # r1 once + 4 own reports
    assert store.counts()["submissions"] == {"pending": 5}


def test_datetimes_are_aware_utc(store: Store) -> None:
    accept(store, "m-1", report("r1"), now=datetime(2025, 3, 3, 10, 0,
                                                    tzinfo=timezone(timedelta(hours=1))))
    [summary] = store.list_reports()
    assert summary.created_at == T0
    assert summary.created_at.utcoffset() == timedelta(0)


def test_messages_naming_reports_in_opposite_orders_do_not_fail(store: Store) -> None:
    """Two writers updating the same reports in opposite orders (a deadlock without
    the store's lock ordering on PostgreSQL) both succeed."""
    accept(store, "seed", report("a", bsn="1"), report("b", bsn="2"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(name: str, keys: tuple[str, str]) -> None:
        try:
            barrier.wait()
            for i in range(10):
                accept(store, f"{name}-{i}", *[report(k, bsn="1" if k == "a" else "2",
                                                      toelichting=f"{name}{i}") for k in keys])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=("x", ("a", "b"))),
               threading.Thread(target=worker, args=("y", ("b", "a")))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert errors == []
    assert store.counts()["submissions"] == {"pending": 2}
