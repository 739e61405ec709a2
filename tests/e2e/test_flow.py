"""The whole path against the real broker and the real simulator over TLS."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

import support

from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import control, dead_letters, make_settings, wait_for
from .records import encode, record

pytestmark = pytest.mark.timeout(90)


@pytest.fixture()
def rng() -> random.Random:
    return random.Random(20261129)


def test_record_is_registered_and_feedback_comes_back(daemon: Daemon, settings: Settings,
                                                      simulator: SimulatorServer, tap, rng) -> None:
    rec = record(rng, soort="V3")
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    registered = wait_for(lambda: tap.of("registered"), what="registered event")
    assert registered[0]["source_id"] == rec["source_id"]
    nummer = registered[0]["meldingsnummer"]
    # The municipality engine moves R → B → G; each change comes back once.
    feedback = wait_for(lambda: [e for e in tap.of("terugmelding") if e["status"] == "G"],
                        what="terugmelding G")
    statuses = [e["status"] for e in tap.of("terugmelding") if e["meldingsnummer"] == nummer]
    assert statuses.count("B") == 1 and statuses.count("G") == 1
    assert feedback[0]["behandelaar"]["naam"]
    assert control(simulator, "ledger") == {registered[0]["business_document_id"]: 1}


def test_same_record_published_twice_is_registered_once(daemon: Daemon, settings: Settings,
                                                        simulator: SimulatorServer, tap, rng) -> None:
    body = encode(record(rng))
    publish_export(settings.amqp, body=body, vendor="canonical", message_id="m-1")
    publish_export(settings.amqp, body=body, vendor="canonical", message_id="m-1")
    publish_export(settings.amqp, body=body, vendor="canonical", message_id="m-2")
    wait_for(lambda: tap.of("registered"), what="registered event")
    time.sleep(1.5)  # room for a wrong second submission to show up
    ledger = control(simulator, "ledger")
    assert list(ledger.values()) == [1]
    assert len(control(simulator, "meldingen")) == 1
    assert len(tap.of("registered")) == 1


def test_feedback_set_through_control_api_arrives(pki_dir: Path, vhost: str, tmp_path: Path,
                                                  rng) -> None:
    sim = SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=3600,
                          delay_afgesloten=3600)
    sim.start()
    settings = make_settings(pki_dir, vhost, sim.soap_url, tmp_path / "s.db")
    from .conftest import Tap
    tap = Tap(settings)
    d = Daemon(settings)
    d.start()
    try:
        publish_export(settings.amqp, body=encode(record(rng, soort="LRV")), vendor="canonical")
        nummer = wait_for(lambda: tap.of("registered"), what="registered")[0]["meldingsnummer"]
        control(sim, f"meldingen/{nummer}/status", {
            "status": "B", "toelichting": "Gesprek gepland",
            "behandelaar": {"naam": "Leerplicht Ambtenaar", "telefoonnummer": "0201234567",
                            "emailadres": "lpa@gemeente.test", "organisatie": "Gemeente Test"}})
        event = wait_for(lambda: [e for e in tap.of("terugmelding") if e["status"] == "B"],
                         what="terugmelding B")[0]
        assert event["meldingsnummer"] == nummer
        assert event["behandelaar"]["emailadres"] == "lpa@gemeente.test"
        assert event["toelichting"] == "Gesprek gepland"
    finally:
        d.stop(timeout=20)
        tap.close()
        sim.stop()


def test_malformed_messages_are_dead_lettered_and_daemon_keeps_running(
        daemon: Daemon, settings: Settings, tap, rng) -> None:
    publish_export(settings.amqp, body=b"{not json", vendor="canonical", message_id="bad-json")
    publish_export(settings.amqp, body=encode(record(rng)), vendor="nosuchvendor",
                   message_id="bad-vendor")
    publish_export(settings.amqp, body=b"x" * (settings.amqp.max_body_bytes + 1),
                   vendor="canonical", message_id="too-big")
    publish_export(settings.amqp, body=encode(record(rng)), vendor="canonical")
    wait_for(lambda: tap.of("registered"), what="the good record registered")
    dead = wait_for(lambda: (lambda d: d if len(d) >= 3 else None)(dead_letters(settings)),
                    what="three dead letters")
    reasons = {mid: str(h["x-verzuim-reason"]) for mid, h in dead}
    assert set(reasons) == {"bad-json", "bad-vendor", "too-big"}
    assert "JSON" in reasons["bad-json"]
    assert "vendor" in reasons["bad-vendor"]
    assert "max_body_bytes" in reasons["too-big"]
    assert not tap.of("rejected")


def test_rule_violation_is_one_rejected_event_and_no_soap_call(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, rng) -> None:
    bad = record(rng, bsn="123456789")  # fails the 11-proef
    publish_export(settings.amqp, body=encode(bad), vendor="canonical")
    rejected = wait_for(lambda: tap.of("rejected"), what="rejected event")
    assert len(rejected) == 1
    fields = [e.get("field") for e in rejected[0]["errors"]]
    assert "student.bsn" in fields
    assert "123456789" not in str(rejected[0])
    assert control(simulator, "ledger") == {}


def test_duo_rejection_is_one_rejected_event(daemon: Daemon, settings: Settings,
                                             simulator: SimulatorServer, tap, rng) -> None:
    rec = record(rng, soort="V3")
    control(simulator, "rod", {"students": [{"bsn": rec["student"]["bsn"],
                                             "geboortedatum": "2005-01-01"}]})
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    rejected = wait_for(lambda: tap.of("rejected"), what="rejected event")
    time.sleep(1.0)
    assert len(tap.of("rejected")) == 1
    assert rejected[0]["errors"][0]["code"]
    assert not tap.of("registered")
    counts = daemon.store.counts()
    assert counts["reports"].get("rejected") == 1


def test_message_is_acked_only_after_commit(settings: Settings, simulator: SimulatorServer,
                                            vhost: str, rng) -> None:
    d = Daemon(settings)
    gate = threading.Event()
    entered = threading.Event()
    real_accept = d.store.accept

    def slow_accept(**kwargs):
        entered.set()
        assert gate.wait(30)
        return real_accept(**kwargs)

    d.store.accept = slow_accept  # type: ignore[method-assign]
    d.intake._store = d.store
    d.start()
    try:
        wait_for(lambda: d.amqp_connected, what="daemon connected to the broker")
        publish_export(settings.amqp, body=encode(record(rng)), vendor="canonical")
        assert entered.wait(20)
        # rabbitmqctl's counts for quorum queues lag a few seconds: wait, don't sample.
        wait_for(lambda: queue_counts(vhost, settings.amqp.inbox_queue) == (0, 1),
                 what="one unacked delivery while the commit is held")
        time.sleep(1.0)
        assert queue_counts(vhost, settings.amqp.inbox_queue) == (0, 1)  # still held
        assert d.store.counts()["reports"] == {}
        gate.set()
        wait_for(lambda: queue_counts(vhost, settings.amqp.inbox_queue) == (0, 0),
                 what="ack after commit")
        assert sum(d.store.counts()["reports"].values()) == 1
    finally:
        gate.set()
        d.stop(timeout=20)


def queue_counts(vhost: str, queue: str) -> tuple[int, int]:
    out = support.rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers",
                              "name", "messages_ready", "messages_unacknowledged")
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == queue:
            return int(parts[1]), int(parts[2])
    raise AssertionError(f"queue {queue} not found")


def test_read_timeout_after_commit_is_reconciled_not_resent(
        pki_dir: Path, vhost: str, simulator: SimulatorServer, tmp_path: Path, rng) -> None:
    settings = make_settings(pki_dir, vhost, simulator.soap_url, tmp_path / "s.db",
                             read_timeout=1.0)
    from .conftest import Tap
    tap = Tap(settings)
    control(simulator, "faults", {"mode": "commit_then_hang", "count": 1, "seconds": 3})
    d = Daemon(settings)
    d.start()
    try:
        publish_export(settings.amqp, body=encode(record(rng)), vendor="canonical")
        wait_for(lambda: tap.of("registered"), what="registered after reconciliation")
        assert list(control(simulator, "ledger").values()) == [1]
    finally:
        d.stop(timeout=20)
        tap.close()
