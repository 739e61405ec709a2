"""The feedback poller against a real SQLite store and the kit's FakeDuo."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapter.domain.model import Behandelaar, Status
from adapter.errors import SystemFault, TransientError
from adapter.pipeline.poller import FeedbackPoller
from adapter.store import Store
from adapter.testing import FakeDuo, valid_bsn

from store.factories import melding


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    yield s
    s.close()


def registered(store: Store, duo: FakeDuo, n: int) -> list[str]:
    """``n`` reports queued, sent to the fake DUO and marked registered; their numbers."""
    from adapter.store import IncomingReport
    store.accept(message_id="m1", vendor="acme", routing_key="acme.export",
                 items=[IncomingReport(vendor="acme", melding=melding(
                     f"r{i}", bsn=valid_bsn(random.Random(i)))) for i in range(n)])
    numbers = []
    claims = store.claim_due(limit=n)
    assert len(claims) == n                                  # one per student
    for claim in claims:
        result = duo.aanleveren(claim.melding, document_id=claim.document_id)
        store.mark_registered(claim.submission_id, meldingsnummer=result.meldingsnummer,
                              status=result.status.value, laatste_mutatie=result.laatste_mutatie)
        numbers.append(result.meldingsnummer)
    store.mark_published([i for i, _ in store.pending_events(limit=50)])
    return numbers


def terugmeldingen(store: Store) -> list[tuple[str | None, str]]:
    return [(e.data.get("meldingsnummer"), e.data["status"])
            for _, e in store.pending_events(limit=50) if e.event == "terugmelding"]


def test_pages_are_applied_with_the_watermark_and_a_repeat_is_absorbed(store: Store) -> None:
    duo = FakeDuo(page_size=2)
    numbers = registered(store, duo, 3)
    woken = threading.Event()
    poller = FeedbackPoller(store, duo, ["00AA"], interval=60, on_events=woken.set)
    assert poller.poll_once("00AA") == 3 and woken.is_set()
    assert sorted(n for n, _ in terugmeldingen(store)) == sorted(numbers)
    mark = store.get_watermark("feedback:00AA")
    assert mark == max(r.laatste_mutatie for r in duo.reports.values())
    assert poller.poll_once("00AA") == 0                      # nothing changed since
    duo.set_status(numbers[1], Status.B, behandelaar=Behandelaar(naam="L. Plicht"))
    assert poller.poll_once("00AA") == 1
    assert terugmeldingen(store)[-1] == (numbers[1], "B")
    assert poller.last_poll_ok is True


def test_a_failed_page_keeps_the_watermark_and_reports_the_poll(store: Store) -> None:
    duo = FakeDuo()
    registered(store, duo, 1)
    duo.script("opvragen_gewijzigd", TransientError("503"), SystemFault("tls_handshake_failed"))
    poller = FeedbackPoller(store, duo, ["00AA"], interval=60)
    with capture_logs() as logs:
        assert poller.poll_once("00AA") == 0
        assert poller.poll_once("00AA") == 0
    assert poller.last_poll_ok is False and store.get_watermark("feedback:00AA") is None
    assert [e.get("fault") for e in logs if e["event"] == "feedback_poll_failed"] == [
        None, "system"]
    assert poller.poll_once("00AA") == 1 and poller.last_poll_ok is True


def test_a_report_we_never_sent_is_stored_once_as_a_web_report(store: Store) -> None:
    duo = FakeDuo()
    registered(store, duo, 1)
    typed_in = duo.aanleveren(melding("elsewhere", brin="99ZZ"), document_id="other-doc")
    poller = FeedbackPoller(store, duo, ["00AA", "99ZZ"], interval=60, web_vendor="magister")
    assert poller.poll_once("99ZZ") == 1                      # typed in at DUO's counter
    assert store.get_watermark("feedback:99ZZ") is not None
    assert poller.poll_once("99ZZ") == 0                      # stored once
    assert poller.poll_once("00AA") == 1
    web = [r for r in store.list_reports() if r.origin == "web"]
    assert [(r.brin, r.meldingsnummer, r.source_id, r.vendor, r.state) for r in web] == [
        ("99ZZ", typed_in.meldingsnummer, None, "magister", "registered")]
