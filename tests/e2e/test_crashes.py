"""Crash at the worst moments (fault matrix 15–17): nothing lost, nothing sent twice.

Each test runs the daemon as a process with one fail point armed
(``VERZUIM_FAILPOINTS``); the process dies there with status 137, as if killed,
and a second daemon on the same store and broker must finish the job.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

import support

from adapter.config import Settings
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import Tap, control, wait_for
from .records import encode, record
from .test_process import start_daemon, write_config

pytestmark = pytest.mark.timeout(150)


def crash_then_recover(settings: Settings, tmp_path: Path, point: str) -> tuple[Tap, dict]:
    config = write_config(tmp_path / "c.toml", settings)
    log = tmp_path / "daemon.log"
    tap = Tap(settings)
    rec = record(random.Random(point))
    crashing = start_daemon(config, log, VERZUIM_FAILPOINTS=point)
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    assert crashing.wait(timeout=60) == 137, log.read_text()[-2000:]
    recovering = start_daemon(config, log)
    try:
        wait_for(lambda: tap.of("registered"), what="registered after the restart", timeout=60)
    finally:
        recovering.send_signal(signal.SIGTERM)
        assert recovering.wait(timeout=60) == 0
    return tap, rec


def test_crash_between_store_commit_and_ack(settings: Settings, simulator: SimulatorServer,
                                            tmp_path: Path) -> None:
    tap, rec = crash_then_recover(settings, tmp_path, "after_inbox_commit")
    # The delivery came back (never acked), hit the inbox key and was acked once.
    assert [e["source_id"] for e in tap.of("registered")] == [rec["source_id"]]
    assert list(control(simulator, "ledger").values()) == [1]


def test_crash_between_soap_success_and_store_update(settings: Settings,
                                                     simulator: SimulatorServer,
                                                     tmp_path: Path) -> None:
    tap, rec = crash_then_recover(settings, tmp_path, "after_soap_ok_before_commit")
    # DUO had it; the restart found the submission in flight, reconciled, did not resend.
    assert list(control(simulator, "ledger").values()) == [1]
    assert len(control(simulator, "meldingen")) == 1
    log = (tmp_path / "daemon.log").read_text()
    assert "submissions_interrupted_recovered" in log and "report_reconciled" in log


def test_crash_between_outbox_commit_and_publish(settings: Settings,
                                                 simulator: SimulatorServer,
                                                 tmp_path: Path) -> None:
    tap, rec = crash_then_recover(settings, tmp_path, "after_outbox_commit_before_publish")
    registered = tap.of("registered")
    # The event was published after the restart; a duplicate would carry the same id.
    assert {p.message_id for e, _, p in tap.events if e == "registered"} and len(
        {p.message_id for e, _, p in tap.events if e == "registered"}) == 1
    assert registered[0]["source_id"] == rec["source_id"]
    assert list(control(simulator, "ledger").values()) == [1]


def test_broker_drops_every_connection_mid_batch(settings: Settings, simulator: SimulatorServer,
                                                 vhost: str, tmp_path: Path) -> None:
    """Fault matrix 2: the daemon reconnects; every record is registered exactly once."""
    config = write_config(tmp_path / "c.toml", settings)
    log = tmp_path / "daemon.log"
    tap = Tap(settings)
    records = [record(random.Random(n)) for n in range(30)]
    daemon = start_daemon(config, log)
    try:
        for rec in records[:10]:
            publish_export(settings.amqp, body=encode(rec), vendor="canonical")
        wait_for(lambda: len(tap.of("registered")) >= 3, what="work under way", timeout=60)
        support.rabbitmqctl("close_all_connections", "-p", vhost, "fault test")
        tap = reopen(tap, settings)  # the tap's own connection was closed too
        for rec in records[10:]:
            publish_export(settings.amqp, body=encode(rec), vendor="canonical")
        wanted = {r["source_id"] for r in records}
        wait_for(lambda: {e["source_id"] for e in tap.of("registered")} >= wanted,
                 what="every record registered", timeout=90)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
        reopen(tap, settings, again=False)
    ledger = control(simulator, "ledger")
    assert len(ledger) == 30 and set(ledger.values()) == {1}
    assert "amqp_connection_lost" in log.read_text()


def reopen(tap: Tap, settings: Settings, *, again: bool = True) -> Tap:
    """Close a tap whose connection the broker may already have closed; open a new one."""
    import pika
    try:
        tap.close()
    except pika.exceptions.AMQPError:
        pass
    if not again:
        return tap
    fresh = Tap(settings)
    fresh.events = tap.events
    return fresh
