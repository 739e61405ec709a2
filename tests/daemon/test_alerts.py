"""Alert once: one ``system_fault_started`` and one ``system_fault_ended`` per fault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapter.errors import StoreUnavailable, SystemFault
from adapter.pipeline.alerts import FaultAlarm
from adapter.pipeline.poller import FeedbackPoller
from adapter.store import Store
from adapter.testing import FakeDuo


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
