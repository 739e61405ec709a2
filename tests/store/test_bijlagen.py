"""Attachments in the store (SQLite and PostgreSQL): accepted once, sent once, refused unkept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from adapter.domain.attachments import DEFAULT_ALLOWED
from adapter.store import Store
from adapter.store import schema as t
from adapter.store.crypto import Cipher
from adapter.store.pseudonyms import StudentKeySecret

from .factories import T0, accept, report

PDF = b"%PDF-1.7\n" + b"0" * 64 + b"\n%%EOF\n"
LATER = T0 + timedelta(days=1)


def attach(store: Store, message_id: str, source_id: str | None = "r1", *,
           content: bytes = PDF, name: str | None = "brief.pdf", max_bytes: int = 10_000) -> str:
    return store.accept_bijlage(message_id=message_id, vendor="acme", brin=None,
                                source_id=source_id, bestandsnaam=name, content=content,
                                max_bytes=max_bytes, allowed=DEFAULT_ALLOWED,
                                default_brin="00AA", now=T0)


def rows(store: Store) -> list[Any]:
    with store.database.engine.connect() as conn:
        return list(conn.execute(sa.select(t.bijlagen)).all())


def events(store: Store, kind: str) -> list[dict[str, Any]]:
    return [e.data for _, e in store.pending_events(100) if e.event == kind]


def expire(store: Store, bijlage: int) -> None:
    with store.database.engine.begin() as conn:
        conn.execute(t.bijlagen.update().where(t.bijlagen.c.id == bijlage)
                     .values(lease_until=T0))


def register(store: Store) -> None:
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_registered(claim.submission_id, meldingsnummer="4711", status="R",
                          laatste_mutatie=T0)


def test_waits_for_the_meldingsnummer_then_is_claimed_once_with_one_document_id(
        store: Store) -> None:
    accept(store, "m-1", report("r1"))
    assert attach(store, "b-1") == "stored"
    assert attach(store, "b-1") == "duplicate"                # the message redelivered
    assert store.claim_bijlagen(limit=5, now=LATER) == []      # the report is not registered
    register(store)
    [claim] = store.claim_bijlagen(limit=5, now=LATER)
    assert (claim.meldingsnummer, claim.bestandsnaam, claim.mime_type, claim.content) == (
        "4711", "brief.pdf", "application/pdf", PDF)
    first_id = claim.document_id
    store.retry_bijlage(claim.bijlage, at=LATER, error="timeout", unknown=True)
    [again] = store.claim_bijlagen(limit=5, now=LATER)
    assert (again.document_id, again.attempt) == (first_id, 2)  # the same id on every attempt
    store.mark_bijlage_sent(again.bijlage, meldingsnummer="4711", bijlage_id="B1-4711")
    assert store.claim_bijlagen(limit=5, now=LATER + timedelta(days=1)) == []
    [event] = [e for e in events(store, "registered") if e["operation"] == "aanleverenBijlage"]
    assert (event["bestandsnaam"], event["bijlage_id"], event["size"], event["meldingsnummer"]) == (
        "brief.pdf", "B1-4711", len(PDF), "4711")
    assert store.bijlagen_of(claim.report_id)[0]["state"] == "sent"


def test_refused_files_are_rejected_events_and_kept_nowhere(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    assert attach(store, "b-1", content=b"MZ\x90\x00 not a pdf") == "rejected"
    assert attach(store, "b-2", max_bytes=10) == "rejected"
    assert attach(store, "b-3", source_id="unknown") == "rejected"
    assert attach(store, "b-4", name="map/x.pdf") == "rejected"
    assert rows(store) == []
    rejected = events(store, "rejected")
    assert [[e["code"] for e in r["errors"]] for r in rejected] == [
        ["AD041"], ["AD040"], ["AD043"], ["AD042"]]
    assert all(r["operation"] == "aanleverenBijlage" for r in rejected)
    assert rejected[3]["bestandsnaam"] is None              # the refused name is not echoed
    assert attach(store, "b-1", content=b"MZ") == "rejected"  # redelivered: one event only
    assert len(events(store, "rejected")) == 4


def test_a_report_refused_by_duo_takes_no_attachment(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=5, now=LATER)
    store.mark_rejected(claim.submission_id, errors=[("VZ007", "te oud")])
    assert attach(store, "b-1") == "rejected"
    assert [e["code"] for e in events(store, "rejected")[-1]["errors"]] == ["AD044"]


def test_duo_refusal_drops_the_content_and_a_crash_leaves_it_unknown(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    attach(store, "b-1")
    attach(store, "b-2")
    register(store)
    first, second = store.claim_bijlagen(limit=5, now=LATER)
    store.mark_bijlage_rejected(first.bijlage, errors=[("VZ950", "bestand onleesbaar")])
    if store.shared:   # replicas: a crashed one's claims are known by their lease running out
        expire(store, second.bijlage)
    assert store.recover_bijlagen() == 1                    # `second` was sending at a crash
    [row_first, row_second] = rows(store)
    assert (row_first.state, bytes(row_first.content)) == ("rejected", b"")
    assert row_second.state == "unknown"
    [again] = store.claim_bijlagen(limit=5, now=LATER)
    assert again.document_id == second.document_id


def test_a_sending_attachment_is_its_replicas_until_its_lease_runs_out(
        store: Store, store_url: str, store_cipher: Cipher,
        student_secret: StudentKeySecret) -> None:
    """Another replica (a second Store on the same database) leaves a live claim alone,
    at its start too on PostgreSQL; a claim whose lease ran out becomes ``unknown`` there
    and is sent again with the same document id. Renewal extends the lease."""
    other = Store.open(store_url, cipher=store_cipher, student_secret=student_secret)
    try:
        accept(store, "m-1", report("r1"))
        attach(store, "b-1")
        attach(store, "b-2")
        register(store)
        store.claim_lease = timedelta(seconds=30)
        first, second = store.claim_bijlagen(limit=5, now=LATER)
        [row_first, _] = rows(store)
        assert row_first.claimed_by == store.replica and row_first.lease_until is not None
        store.claim_lease = timedelta(hours=1)
        assert store.renew_bijlagen([first.bijlage, second.bijlage]) == 2
        assert rows(store)[0].lease_until > row_first.lease_until + timedelta(minutes=50)
        assert other.renew_bijlagen([first.bijlage]) == 0       # not the other's to renew

        assert other.recover_expired_bijlagen() == 0            # both leases run
        if other.shared:
            assert other.recover_bijlagen() == 0                # a replica starting: the same
        expire(store, second.bijlage)
        assert other.recover_expired_bijlagen() == 1
        states = {row.id: (row.state, row.claimed_by) for row in rows(store)}
        assert states == {first.bijlage: ("sending", store.replica),
                          second.bijlage: ("unknown", None)}
        [again] = other.claim_bijlagen(limit=5, now=LATER)
        assert (again.bijlage, again.document_id) == (second.bijlage, second.document_id)
        assert rows(store)[1].claimed_by == other.replica
    finally:
        other.close()
