"""Alert once, through the running daemon: a DUO that keeps failing with a system fault
raises one ``system_fault_started`` across many pauses and polls, and one
``system_fault_ended`` once it answers properly again."""

from __future__ import annotations

import random

import pytest
from structlog.testing import capture_logs

from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import Tap, control, wait_for
from .records import encode, record

pytestmark = pytest.mark.timeout(90)


def test_a_lasting_duo_fault_alerts_once_and_its_end_once(
        settings: Settings, simulator: SimulatorServer) -> None:
    # Every answer carries a broken signature: the client raises SystemFault
    # (response_signature_invalid) on submissions and feedback polls alike.
    control(simulator, "faults", {"mode": "bad_signature", "count": 100_000})
    tap = Tap(settings)
    d = Daemon(settings)
    d.submitter._pause_seconds = 0.3   # many pauses within the test
    with capture_logs() as logs:
        d.start()
        try:
            wait_for(lambda: d.amqp_connected, what="daemon connected to the broker")
            publish_export(settings.amqp, body=encode(record(random.Random(7))),
                           vendor="canonical")
            wait_for(lambda: sum(e["event"] == "submissions_paused" for e in logs) >= 3,
                     what="three pauses")
            wait_for(lambda: sum(e["event"] == "feedback_poll_failed" for e in logs) >= 2,
                     what="two failed polls")
            control(simulator, "reset", {})              # the fault is over
            wait_for(lambda: tap.of("registered"), what="registered event")
            wait_for(lambda: any(e["event"] == "system_fault_ended" for e in logs),
                     what="system_fault_ended")
        finally:
            d.stop(timeout=20)
            tap.close()
    started = [e for e in logs if e["event"] == "system_fault_started"]
    ended = [e for e in logs if e["event"] == "system_fault_ended"]
    assert [(e["fault"], e["log_level"]) for e in started] == [("duo", "error")]
    assert [(e["fault"], e["log_level"]) for e in ended] == [("duo", "error")]
    assert ended[0]["repeats"] >= 3 and ended[0]["duration_s"] >= 0
    assert logs.index(started[0]) < logs.index(ended[0])
    repeats = [e for e in logs if e["event"] in ("submissions_paused", "feedback_poll_failed")]
    assert repeats and {e["log_level"] for e in repeats} == {"warning"}
    errors = {e["event"] for e in logs if e["log_level"] == "error"}
    assert errors == {"system_fault_started", "system_fault_ended"}, errors
