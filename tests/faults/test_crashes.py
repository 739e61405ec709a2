"""Fault matrix rows 15–17 and 20: the daemon process dies at the worst moments (fail
points, ``VERZUIM_FAILPOINTS``) or is stopped under load; a second process on the same
store and broker finishes the job. The log is the processes' JSON lines."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from e2e.test_process import start_daemon, wait_started, write_config
from invariants import json_log

from .conftest import Rig, wait_for

pytestmark = pytest.mark.timeout(120)


def crash_then_recover(rig: Rig, point: str, n: int = 3) -> list[dict]:
    config = write_config(rig.tmp_path / "c.toml", rig.settings)
    log = rig.tmp_path / "daemon.log"
    rig.tap  # noqa: B018 - the tap queue exists before the first event
    crashing = start_daemon(config, log, VERZUIM_FAILPOINTS=point)
    rig.publish(n)
    assert crashing.wait(timeout=60) == 137, log.read_text()[-2000:]
    recovering = start_daemon(config, log)
    wait_started(log, 2)
    try:
        rig.settle(timeout=60)
    finally:
        stop(recovering)
    events = json_log(log)
    rig.verdict(logs=events).assert_clean()
    return events


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=grace) == 0


def test_row15_crash_between_store_commit_and_ack(rig: Rig) -> None:
    """Killed after the inbox commit, before the ack: the delivery comes back
    (redelivered), hits the inbox key, is acked; one registration each."""
    events = crash_then_recover(rig, "after_inbox_commit")
    assert any(e["event"] == "message_accepted" and e.get("duplicate") for e in events)


def test_row16_crash_between_soap_success_and_store_update(rig: Rig) -> None:
    """Killed after DUO registered, before our commit: the restart finds ``submitting``,
    makes it ``unknown``, reconciles, registers without a resend."""
    events = crash_then_recover(rig, "after_soap_ok_before_commit", n=1)
    names = {e["event"] for e in events}
    assert {"submissions_interrupted_recovered", "report_reconciled"} <= names


def test_row17_crash_between_outbox_commit_and_publish(rig: Rig) -> None:
    """Killed after the outbox commit, before the broker's confirm: the event is
    published after the restart (a duplicate would carry the same ``message_id``)."""
    crash_then_recover(rig, "after_outbox_commit_before_publish", n=1)
    assert any(e == "registered" for e, _, _ in rig.tap.events)


def test_row20_graceful_stop_under_load(rig: Rig) -> None:
    """SIGTERM during a batch: the process stops consuming, settles what is in flight,
    exits 0 within the grace period; the restart loses nothing and sends nothing twice."""
    config = write_config(rig.tmp_path / "c.toml", rig.settings)
    log = rig.tmp_path / "daemon.log"
    rig.tap  # noqa: B018
    proc = start_daemon(config, log)
    # Enough that the stop comes in the middle of the batch (a fast daemon would
    # have finished 25 before the third was seen done).
    rig.publish(100)
    wait_for(lambda: len(rig.done_ids()) >= 3, what="work under way", timeout=60)
    started = time.monotonic()
    stop(proc, grace=30)
    assert time.monotonic() - started < 30
    proc = start_daemon(config, log)
    wait_started(log, 2)
    try:
        rig.settle(timeout=60)
    finally:
        stop(proc)
    events = json_log(log)
    rig.verdict(logs=events).assert_clean()
    assert any(e["event"] == "daemon_stopped" for e in events)
