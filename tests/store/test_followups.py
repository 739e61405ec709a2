"""Follow-ups resolved at claim time (SQLite and PostgreSQL): DUO's number, wait or refuse."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from adapter.store import Store
from adapter.store import schema as t

from .factories import T0, accept, report

LATER = T0 + timedelta(days=1)
#: A follow-up's begindatum: 7 days after the factories' (DUO's cadence, AD023).
NEXT = date(2025, 2, 10)


def _register(store: Store, source_id: str, nummer: str) -> None:
    claims = store.claim_due(limit=10, now=LATER)
    [claim] = [c for c in claims if c.melding.source_id == source_id]
    for other in claims:
        if other is not claim:
            store.release(other.submission_id)
    store.mark_registered(claim.submission_id, meldingsnummer=nummer, status="R",
                          laatste_mutatie=T0)


def _rejected_codes(store: Store) -> dict[str, list[str]]:
    out = {}
    for _, event in store.pending_events(100):
        if event.event == "rejected":
            out[event.source_id or ""] = [e["code"] for e in event.data["errors"]]
    return out


def test_claim_carries_duos_number_not_the_sis_id(store: Store) -> None:
    accept(store, "m-1", report("a1", bsn="111"))
    _register(store, "a1", "4711")
    accept(store, "m-2", report("a2", bsn="111", vervolg_op="a1", begindatum=NEXT))
    [claim] = store.claim_due(limit=10, now=LATER)
    assert (claim.melding.source_id, claim.melding.vervolg_op) == ("a2", "4711")
    # The stored report keeps the SIS's id: the resolution is made for each send.
    with store.database.engine.connect() as conn:
        stored = conn.execute(sa.select(t.submissions.c.payload).where(
            t.submissions.c.id == claim.submission_id)).scalar_one()
    assert stored["vervolg_op"] == "a1"


def test_unknown_foreign_and_unregistered_earlier_reports_are_refused(store: Store) -> None:
    accept(store, "m-1", report("a1", bsn="111"), report("w1", bsn="333"))
    _register(store, "a1", "4711")
    [w1] = store.claim_due(limit=10, now=LATER)
    assert w1.melding.source_id == "w1"
    store.mark_rejected(w1.submission_id, errors=[("VZ905", "x")])
    accept(store, "m-2", report("u2", bsn="111", vervolg_op="nope", begindatum=NEXT),
           report("o2", bsn="222", vervolg_op="a1", begindatum=NEXT), report("w2", bsn="333", vervolg_op="w1", begindatum=NEXT))
    assert store.claim_due(limit=10, now=LATER) == []       # none of them is sent
    codes = _rejected_codes(store)
    assert (codes["u2"], codes["o2"], codes["w2"]) == (["AD020"], ["AD021"], ["AD022"])
    assert {r.source_id: r.state for r in store.list_reports()}["o2"] == "rejected"


def test_follow_up_claimed_before_its_earlier_report_is_queued_behind_it(store: Store) -> None:
    accept(store, "m-1", report("f2", bsn="111", vervolg_op="e1", begindatum=NEXT), report("e1", bsn="111"))
    # The follow-up is older, so it is claimed first: it waits, unsent, behind e1.
    assert store.claim_due(limit=10, now=LATER) == []
    [first] = store.claim_due(limit=10, now=LATER)
    assert first.melding.source_id == "e1"
    assert store.claim_due(limit=10, now=LATER) == []       # the student's order holds
    store.mark_registered(first.submission_id, meldingsnummer="N-1", status="R",
                          laatste_mutatie=T0)
    [follow] = store.claim_due(limit=10, now=LATER)
    assert (follow.melding.source_id, follow.melding.vervolg_op) == ("f2", "N-1")
    with store.database.engine.connect() as conn:
        states = conn.execute(sa.select(t.submissions.c.state).order_by(t.submissions.c.id)
                              ).scalars().all()
    assert states == ["cancelled", "done", "submitting"]    # never sent under the old id
