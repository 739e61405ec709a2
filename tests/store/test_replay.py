"""``replay``: a failed submission goes back to pending with its own document id."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapter.store import ExchangeRecord, IllegalTransition, Store

from .factories import T0, accept, report

FAR = T0 + timedelta(days=365 * 50)


def _fail(store: Store, source_id: str = "r1", message_id: str = "m-1") -> int:
    accept(store, message_id, report(source_id))
    [claim] = store.claim_due(limit=5, now=FAR)
    store.record_exchange(ExchangeRecord(
        operation="aanleverenVerzuimmelding", document_id=claim.document_id,
        message_id="urn:uuid:x", request_xml=b"<r/>", response_xml=None, http_status=503,
        outcome="transient", started_at=T0, duration_ms=5, submission_id=claim.submission_id))
    store.mark_failed(claim.submission_id, reason="gave up: duo_http_503")
    return claim.submission_id


def test_failed_submission_is_listed_with_its_failure(store: Store) -> None:
    sid = _fail(store)
    [cand] = store.failed_submissions()
    assert (cand.submission_id, cand.operation, cand.attempts) == (sid, "aanleveren", 1)
    assert cand.failure_class == "transient" and cand.code == 503
    assert cand.last_error == "gave up: duo_http_503" and cand.last_attempt_at == T0
    assert store.failed_submissions(report_id=cand.report_id + 1) == []


def test_replay_reuses_the_document_id_and_resets_attempts(store: Store) -> None:
    sid = _fail(store)
    before = store.report_detail(1)
    assert before is not None and before["report"]["state"] == "failed"
    document_id = before["submissions"][0]["document_id"]
    outcome = store.replay_submission(sid)
    assert outcome.result == "replayed"
    detail = store.report_detail(1)
    assert detail is not None and detail["report"]["state"] == "queued"
    [sub] = detail["submissions"]
    assert (sub["state"], sub["attempts"], sub["document_id"]) == ("pending", 0, document_id)
    assert any(h["event"] == "replayed" for h in detail["history"])
    [claim] = store.claim_due(limit=5, now=FAR)
    assert claim.document_id == document_id and claim.attempt == 1
    assert store.failed_submissions() == []


def test_replay_skips_what_is_not_failed_and_the_daemon_cannot_replay(store: Store) -> None:
    sid = _fail(store)
    assert store.replay_submission(sid).result == "replayed"
    again = store.replay_submission(sid)
    assert again.result == "skipped" and "pending" in (again.reason or "")
    assert store.replay_submission(999).result == "skipped"
    sid2 = _fail(store, "r2", "m-2")
    # The daemon's own moves never take a failed submission back (only replay does).
    with pytest.raises(IllegalTransition):
        store.retry_later(sid2, at=T0, error="late")
