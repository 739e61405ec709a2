"""Alert once: one ``system_fault_started`` and one ``system_fault_ended`` per fault."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapter.config import DuoSettings
from adapter.errors import StoreUnavailable, SystemFault
from adapter.pipeline.alerts import FaultAlarm
from adapter.pipeline.poller import FeedbackPoller
from adapter.pipeline.submitter import Submitter
from adapter.store import IncomingReport, Store
from adapter.testing import FakeDuo, valid_bsn

from store.factories import melding


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    yield s
    s.close()


def alerts(logs: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(e["event"], e["fault"], e["log_level"]) for e in logs
            if e["event"] in ("system_fault_started", "system_fault_ended")]


def test_repeated_faults_start_once_and_recovery_ends_once() -> None:
    now = [100.0]
    alarm = FaultAlarm(clock=lambda: now[0])
    with capture_logs() as logs:
        assert alarm.ok("duo") is False                       # nothing to end
        assert alarm.fault("duo", SystemFault("tls_handshake_failed"), part="submitter")
        for _ in range(5):
            now[0] += 30
            assert not alarm.fault("duo", SystemFault("tls_handshake_failed"), part="poller")
        assert alarm.fault("store", StoreUnavailable("database down"))   # another kind
        assert alarm.active() == {"duo": "SystemFault", "store": "StoreUnavailable"}
        now[0] += 2.5
        assert alarm.ok("duo") is True
        assert alarm.ok("duo") is False
        assert alarm.ok("store") is True
        assert alarm.fault("duo", "again")                    # a new fault starts anew
    assert alerts(logs) == [
        ("system_fault_started", "duo", "error"),
        ("system_fault_started", "store", "error"),
        ("system_fault_ended", "duo", "error"),
        ("system_fault_ended", "store", "error"),
        ("system_fault_started", "duo", "error")]
    started = next(e for e in logs if e["event"] == "system_fault_started")
    assert started["error"] == "SystemFault" and started["part"] == "submitter"
    assert started["detail"] == "tls_handshake_failed"
    ended = next(e for e in logs if e["event"] == "system_fault_ended")
    assert ended["duration_s"] == 152.5 and ended["repeats"] == 5


def test_poller_faults_alert_once_and_polls_warn(store: Store) -> None:
    duo = FakeDuo()
    alarm = FaultAlarm()
    duo.script("opvragen_gewijzigd", *[SystemFault("tls_handshake_failed")] * 3)
    poller = FeedbackPoller(store, duo, ["00AA"], interval=60, alarm=alarm)
    with capture_logs() as logs:
        for _ in range(4):
            poller.poll_once("00AA")
    assert alerts(logs) == [("system_fault_started", "duo", "error"),
                            ("system_fault_ended", "duo", "error")]
    polls = [e for e in logs if e["event"] == "feedback_poll_failed"]
    assert len(polls) == 3 and {e["log_level"] for e in polls} == {"warning"}
    assert not [e for e in logs if e["log_level"] == "error"
                and not e["event"].startswith("system_fault_")]


def test_a_failed_release_after_a_system_fault_is_logged_and_the_loop_goes_on(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def queue(n: int) -> None:   # another student each: no per-student order between them
        store.accept(message_id=f"m{n}", vendor="acme", routing_key="acme.export",
                     items=[IncomingReport(vendor="acme", melding=melding(
                         f"r{n}", bsn=valid_bsn(random.Random(n))))])

    def release(_submission_id: int) -> None:
        raise StoreUnavailable("database down")

    queue(1)
    duo = FakeDuo()
    duo.script("aanleveren", SystemFault("tls_handshake_failed"), "ok")
    monkeypatch.setattr(store, "release", release)
    sub = Submitter(DuoSettings(max_concurrency=1), store, duo, idle_wait=0.02,
                    pause_seconds=0.2, alarm=FaultAlarm())
    stop = threading.Event()
    thread = threading.Thread(target=sub.run, args=(stop,), daemon=True)
    with capture_logs() as logs:
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not any(e["event"] == "claim_set_aside_failed" for e in logs):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            queue(2)          # the loop lives on: the next report is sent after the pause
            while store.counts()["submissions"].get("done", 0) != 1:
                assert time.monotonic() < deadline, store.counts()
                time.sleep(0.02)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    failed = [e for e in logs if e["event"] == "claim_set_aside_failed"]
    assert len(failed) == 1 and failed[0]["error"] == "StoreUnavailable"
    assert alerts(logs) == [("system_fault_started", "duo", "error"),
                            ("system_fault_ended", "duo", "error")]
    # The first claim stays submitting (reconciled at the next start), never sent twice.
    assert store.counts()["submissions"].get("submitting", 0) == 1 and len(duo.sent) == 2
