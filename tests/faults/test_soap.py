"""Fault matrix rows 4–7, 22 and 23: DUO's SOAP service misbehaves (the simulator's faults,
or a fault proxy in front of it), or the daemon's DUO worker dies; the daemon runs in this
process."""

from __future__ import annotations

import os
import signal
import time

import support

from .conftest import Rig, control, wait_for


def test_row04_soap_timeout_after_server_commit(rig: Rig) -> None:
    """The simulator registers, then hangs past the 1 s read timeout: ``unknown``, the
    look-up finds it, no resend (ledger count 1), one ``registered`` event."""
    control(rig.sim, "faults", {"mode": "commit_then_hang", "count": 1, "seconds": 3,
                                "operation": "aanleverenVerzuimmelding"})
    rig.start()
    rig.publish(3)
    rig.settle()
    rig.verdict().assert_clean()
    assert any(e["event"] == "duo_outcome_unknown" for e in rig.logs)
    assert any(e["event"] == "report_reconciled" for e in rig.logs)


def test_row05_soap_timeout_before_server_commit(rig: Rig) -> None:
    """The request is lost before DUO handles it (the simulator's ``hang_then_drop``: read,
    never registered, no answer within the 1 s read timeout): ``unknown``, the look-up
    finds nothing, the resend carries the same document id and is registered once."""
    control(rig.sim, "faults", {"mode": "hang_then_drop", "count": 1, "seconds": 2,
                                "operation": "aanleverenVerzuimmelding"})
    rig.start()
    rig.publish(2)
    rig.settle()
    rig.verdict().assert_clean()
    assert any(e["event"] == "duo_outcome_unknown" for e in rig.logs)
    assert any(e["event"] == "reconcile_not_found_resending" for e in rig.logs)


def test_row06_soap_business_fault(rig: Rig) -> None:
    """DUO refuses the report (VZ908: student unknown in its registry): no retry,
    ``rejected`` event with the code, one error log."""
    control(rig.sim, "rod", {"students": [{"bsn": support.valid_bsn(1),
                                           "geboortedatum": "2012-01-01"}]})
    rig.start()
    rig.publish(2)
    rig.settle()
    verdict = rig.verdict()
    verdict.assert_clean()
    assert len(verdict.rejected) == 2
    rejected = [body for event, body, _ in rig.tap.events if event == "rejected"]
    assert all("VZ908" in str(body) for body in rejected)
    assert not any(e["event"] == "submission_retry_scheduled" for e in rig.logs)


def test_row07_soap_503_is_retried_with_backoff(rig: Rig) -> None:
    """Three 503s, then DUO answers: retried with growing delays, registered once, no
    dead letter."""
    control(rig.sim, "faults", {"mode": "http_503", "count": 3,
                                "operation": "aanleverenVerzuimmelding"})
    rig.start()
    rig.publish(1)
    rig.settle()
    rig.verdict().assert_clean()
    delays = [e["delay_s"] for e in rig.logs if e["event"] == "submission_retry_scheduled"]
    assert len(delays) == 3 and delays[-1] >= delays[0]
    assert not rig.dead_ids()


def test_row22_slow_soap_does_not_hold_acks(rig: Rig) -> None:
    """Every DUO call takes 3 s (longer than the read timeout would allow a backlog to
    take): the inbox is acked at commit, so no delivery waits on DUO and the broker's
    consumer acknowledgement timeout can never fire. Regression test for the ack point."""
    rig.duo = {"read_timeout": 8.0, "max_concurrency": 2}
    control(rig.sim, "faults", {"mode": "delay", "count": 100, "seconds": 3,
                                "operation": "aanleverenVerzuimmelding"})
    rig.start()
    rig.publish(6)
    # Within a second or two every delivery is committed and acked, while DUO is still busy.
    wait_for(lambda: inbox_depth(rig) == 0, what="every delivery acked", timeout=10)
    assert sum(1 for e in rig.logs if e["event"] == "message_accepted") == 6
    assert len(rig.done_ids()) < 6
    rig.settle(timeout=40)
    rig.verdict().assert_clean()


def inbox_depth(rig: Rig) -> int:
    """Messages the broker still holds in the inbox queue (ready or unacknowledged).
    (The per-state columns of a quorum queue lag behind by a statistics interval; the
    total does not.)"""
    out = support.rabbitmqctl("list_queues", "-p", rig.vhost, "name", "messages")
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == rig.settings.amqp.inbox_queue:
            return int(parts[1])
    return -1


def test_row23_the_duo_worker_dies_mid_call(rig: Rig) -> None:
    """The process that makes the DUO calls (``duo.worker_process``) is killed while calls
    are in flight: each is an unknown outcome, reconciled by its document id; the next
    call starts another worker; every report is registered once, none is lost."""
    rig.duo = {"max_concurrency": 2, "worker_process": True}
    control(rig.sim, "faults", {"mode": "delay", "count": 2, "seconds": 3,
                                "operation": "aanleverenVerzuimmelding"})
    daemon = rig.start()
    rig.publish(4)
    wait_for(lambda: daemon.client.pid is not None, what="the worker started", timeout=20)
    pid = daemon.client.pid
    time.sleep(1.0)                                 # the two delayed calls are in flight
    os.kill(pid, signal.SIGKILL)
    rig.settle(timeout=60)
    rig.verdict().assert_clean()
    names = [e["event"] for e in rig.logs]
    assert "duo_worker_ended" in names and names.count("duo_worker_started") == 2
    assert {"report_reconciled", "reconcile_not_found_resending"} & set(names)
    assert daemon.client.pid not in (None, pid)
