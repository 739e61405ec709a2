"""Several registrations in one transaction (``Store.mark_registered_many``): the same
result as one ``mark_registered`` each, all or none (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from adapter.domain.model import Status
from adapter.store import Claim, ExchangeRecord, Registration, Store
from adapter.store.leases import ClaimLost

from .factories import T0, accept, report
from .test_feedback import _web

LATER = T0 + timedelta(days=1)


def _claims(store: Store, n: int, prefix: str) -> list[Claim]:
    accept(store, f"m-{prefix}", *[report(f"{prefix}{i}", bsn=f"{prefix}{i}") for i in range(n)])
    claims = [c for c in store.claim_due(limit=50, now=LATER)
              if c.melding.source_id.startswith(prefix)]
    assert len(claims) == n
    return claims


def _exchange(claim: Claim) -> ExchangeRecord:
    return ExchangeRecord(operation="aanleveren", document_id=claim.document_id,
                          message_id="msg", request_xml=b"<req/>", response_xml=b"<resp/>",
                          http_status=200, outcome="ok", started_at=T0, duration_ms=5,
                          submission_id=claim.submission_id)


def _registration(claim: Claim, n: int) -> Registration:
    return Registration(claim.submission_id, f"MN-{n}", "R", T0 + timedelta(minutes=n),
                        (_exchange(claim),))


def _outcome(store: Store, claim: Claim) -> dict[str, Any]:
    """What a registration left behind for one report, without ids and numbers."""
    detail = store.report_detail(claim.report_id)
    assert detail is not None
    [event] = [e for _, e in store.pending_events(limit=100)
               if e.event == "registered" and e.source_id == claim.melding.source_id]
    data = {k: v for k, v in event.data.items()
            if k not in ("meldingsnummer", "business_document_id")}
    summary = detail["report"]
    return {
        "state": summary["state"], "duo_status": summary["duo_status"],
        "history": [(h["event"], h["from_state"], h["to_state"],
                     re.sub(r"[0-9]+", "#", h["detail"] or "")) for h in detail["history"]],
        "submissions": [(s["state"], s["last_error"]) for s in detail["submissions"]],
        "exchanges": len(detail["exchanges"]), "event": data,
        "number": (summary["meldingsnummer"], event.data["meldingsnummer"]),
    }


def test_many_registrations_leave_what_one_each_leaves(store: Store) -> None:
    one_by_one = _claims(store, 3, "a")
    together = _claims(store, 3, "b")
    for n, claim in enumerate(one_by_one):
        r = _registration(claim, n)
        store.mark_registered(r.submission_id, meldingsnummer=r.meldingsnummer, status=r.status,
                              laatste_mutatie=r.laatste_mutatie, exchanges=r.exchanges)
    store.mark_registered_many([_registration(c, 10 + n) for n, c in enumerate(together)])
    expected = [_outcome(store, c) for c in one_by_one]
    got = [_outcome(store, c) for c in together]
    assert [e["number"] for e in got] == [("MN-10",) * 2, ("MN-11",) * 2, ("MN-12",) * 2]
    for e in (*expected, *got):
        del e["number"]
    assert got == expected
    assert expected[0]["state"] == "registered" and expected[0]["exchanges"] == 1
    assert [h[0] for h in expected[0]["history"]] == ["received", "submission_queued", "claimed",
                                                      "registered", "report_registered"]
    assert store.counts()["submissions"] == {"done": 6}


def test_one_that_fails_stores_none_of_them(store: Store) -> None:
    accept(store, "m-c", *[report(f"c{i}", bsn=f"c{i}") for i in range(3)])
    store.replica = "another:1:abc"
    [theirs] = store.claim_due(limit=1, now=LATER)      # another replica holds the oldest
    store.replica = "this:2:def"
    ours = store.claim_due(limit=5, now=LATER)
    assert len(ours) == 2
    with pytest.raises(ClaimLost):
        store.mark_registered_many([_registration(c, n) for n, c in enumerate([*ours, theirs])])
    for claim in ours:
        detail = store.report_detail(claim.report_id)
        assert detail is not None and detail["report"]["state"] == "queued"
        assert detail["exchanges"] == []             # rolled back with the rest
    assert [e for _, e in store.pending_events(limit=50) if e.event == "registered"] == []


def test_a_web_report_with_the_new_number_is_adopted_in_a_batch(store: Store) -> None:
    claims = _claims(store, 2, "d")
    early = _web("MN-1", Status.B, 2, verzuimsoort="V3")
    assert store.apply_feedback([early], watermark=LATER, name="fb") == 1
    store.mark_registered_many([_registration(c, n) for n, c in enumerate(claims)])
    reports = store.list_reports()
    assert sorted(r.origin for r in reports) == ["adapter", "adapter"]     # the web row went
    adopted = next(r for r in reports if r.meldingsnummer == "MN-1")
    assert adopted.duo_status == "B"                                       # the newer feedback
    detail = store.report_detail(adopted.report_id)
    assert detail is not None and "web_report_adopted" in [h["event"] for h in detail["history"]]


def test_content_that_arrived_in_flight_is_followed_up_in_a_batch(store: Store) -> None:
    claims = _claims(store, 2, "e")
    accept(store, "m-e-2", report("e0", bsn="e0", einddatum=T0.date()))   # while in flight
    store.mark_registered_many([_registration(c, n) for n, c in enumerate(claims)])
    assert store.counts()["submissions"] == {"done": 2, "pending": 1}
    [follow] = store.claim_due(limit=5)          # queued at the outcome's (real) time
    assert (follow.melding.source_id, follow.operation.value) == ("e0", "wijzigen")
