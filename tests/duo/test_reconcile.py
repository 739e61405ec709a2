"""Mutations whose answer was lost, and stale stamps, against the real simulator over TLS.

The submitter, a real SQLite store and the real client; the simulator processes the
request and then hangs past the client's read timeout (``commit_then_hang``), so the
outcome is unknown and the adapter must reconcile by the document it sent, never by
resending it. Counting happens at the simulator (its ledger) and in the exchanges kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapter.config import SchoolSettings
from adapter.domain.model import Verzuimsoort
from adapter.duo.client import DuoClient
from adapter.pipeline.submitter import Submitter
from adapter.simulator.server import SimulatorServer
from adapter.store import IncomingReport, Store
from adapter.store.api import ExchangeRecord

from .conftest import BRIN, SCHOOL_OIN, TODAY, control, duo_settings, melding


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    yield s
    s.close()


@pytest.fixture()
def kept() -> list[ExchangeRecord]:
    return []


@pytest.fixture()
def duo(pki_dir: Path, simulator: SimulatorServer, store: Store,
        kept: list[ExchangeRecord]) -> Iterator[DuoClient]:
    def sink(exchange: ExchangeRecord) -> None:
        kept.append(exchange)
        store.record_exchange(exchange)

    settings = duo_settings(pki_dir, simulator.soap_url, read_timeout=1.0)
    with DuoClient(settings, SchoolSettings(brin=BRIN, oin=SCHOOL_OIN),
                   exchange_sink=sink) as client:
        yield client


def run_until(store: Store, client: DuoClient, done: Callable[[dict[str, Any]], bool],
              pki_dir: Path, url: str, max_attempts: int = 4) -> None:
    settings = duo_settings(pki_dir, url, read_timeout=1.0, retry_base_seconds=0.05,
                            retry_max_seconds=0.1, max_attempts=max_attempts)
    sub = Submitter(settings, store, client, idle_wait=0.02, pause_seconds=0.3)
    stop = threading.Event()
    thread = threading.Thread(target=sub.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    try:
        while not done(store.counts()):
            assert time.monotonic() < deadline, store.counts()
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(15)


def done(n: int, state: str = "done") -> Callable[[dict[str, Any]], bool]:
    return lambda c: c["submissions"].get(state, 0) == n


def accept(store: Store, message_id: str, **changes: Any) -> None:
    report = melding(soort=Verzuimsoort.LRV, **{"einddatum": None, **changes})
    store.accept(message_id=message_id, vendor="acme", routing_key="acme.export",
                 items=[IncomingReport(vendor="acme", melding=report)])


def events(store: Store) -> list[str]:
    return [e.event for _, e in store.pending_events(limit=50)]


@pytest.mark.parametrize("changes, operation", [
    ({"einddatum": TODAY - timedelta(days=1)}, "wijzigenVerzuimmelding"),
    ({"deleted": True}, "intrekkenVerzuimmelding")], ids=["wijzigen", "intrekken"])
def test_a_lost_mutation_reaches_duo_once_and_the_report_ends_right(
        changes: dict[str, Any], operation: str, store: Store, duo: DuoClient,
        simulator: SimulatorServer, pki_dir: Path, kept: list[ExchangeRecord]) -> None:
    accept(store, "m1")
    run_until(store, duo, done(1), pki_dir, simulator.soap_url)
    # DUO processes the change, then the answer never arrives (read timeout).
    control(simulator, "faults", {"mode": "commit_then_hang", "count": 1, "seconds": 3})
    accept(store, "m2", **changes)
    run_until(store, duo, done(2), pki_dir, simulator.soap_url)

    sent = [e for e in kept if e.operation == operation]
    assert len(sent) == 1 and sent[0].outcome == "unknown"       # never resent
    document_id = sent[0].document_id
    assert document_id is not None
    assert control(simulator, "ledger")[document_id] == 1         # processed exactly once
    # Reconciled by that document's own id, and found.
    looked_up = [e for e in kept if e.operation == "opvragenVerzuimmelding"]
    assert len(looked_up) == 1 and looked_up[0].outcome == "ok"
    assert document_id.encode() in looked_up[0].request_xml
    assert events(store) == ["registered", "registered"]
    [held] = control(simulator, "meldingen")
    [report] = store.list_reports()
    if operation == "intrekkenVerzuimmelding":
        assert held["status"] == "I" and report.state == "withdrawn"
        assert report.duo_status == "I"
    else:
        assert held["melding"]["einddatum"] == (TODAY - timedelta(days=1)).isoformat()
        assert report.state == "registered" and report.duo_status == "R"


def test_a_stale_stamp_is_refreshed_and_the_change_sent_once_more(
        store: Store, duo: DuoClient, simulator: SimulatorServer, pki_dir: Path,
        kept: list[ExchangeRecord]) -> None:
    accept(store, "m1")
    run_until(store, duo, done(1), pki_dir, simulator.soap_url)
    [held] = control(simulator, "meldingen")
    # The municipality takes it in behandeling: DUO's stamp moves on, ours is stale.
    control(simulator, f"meldingen/{held['meldingsnummer']}/status", {"status": "B"})
    accept(store, "m2", einddatum=TODAY - timedelta(days=1))
    run_until(store, duo, done(2), pki_dir, simulator.soap_url)

    wijzigingen = [e for e in kept if e.operation == "wijzigenVerzuimmelding"]
    assert [e.outcome for e in wijzigingen] == ["rejected", "ok"]
    assert wijzigingen[0].document_id == wijzigingen[1].document_id
    assert b"VZ903" in (wijzigingen[0].response_xml or b"")
    assert [e.outcome for e in kept if e.operation == "opvragenVerzuimmelding"] == ["ok"]
    assert events(store) == ["registered", "registered"]
    [report] = store.list_reports()
    detail = store.report_detail(report.report_id)
    assert detail is not None
    assert [h["detail"].split(" laatste_mutatie")[0] for h in detail["history"]
            if h["event"] == "duo_version"] == [
        f"meldingsnummer {held['meldingsnummer']} status B"]
    [after] = control(simulator, "meldingen")
    assert after["status"] == "B"
    assert after["melding"]["einddatum"] == (TODAY - timedelta(days=1)).isoformat()
