"""Fault matrix rows 1 and 18: faults of the whole broker (every vhost sees them), so
these run after every other test (marker ``broker_wide``, moved last by
``tests/conftest.py``; the module name sorts last as well) and always restore the broker
in a ``finally``: ``start_app`` after a restart, the disk limit after an alarm."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import support

from .conftest import Rig, control, wait_for

pytestmark = [pytest.mark.broker_wide, pytest.mark.timeout(150)]


def broker_up() -> None:
    support.rabbitmqctl("start_app")
    subprocess.run(["rabbitmqctl", "-q", "await_startup", "--timeout", "60"], check=False,
                   capture_output=True, timeout=90, env=support.broker_env())


def disk_free_limit() -> str:
    return support.rabbitmqctl("eval", "rabbit_disk_monitor:get_disk_free_limit().").strip()


@contextmanager
def disk_alarm() -> Iterator[None]:
    """A disk alarm (free-space limit far above the disk) for the block; restored after."""
    before = disk_free_limit()
    if not before.isdigit():
        before = "50000000"
    support.rabbitmqctl("set_disk_free_limit", "100000GB")
    try:
        wait_for(lambda: "disk" in alarms(), what="the disk alarm raised", timeout=20)
        yield
    finally:
        support.rabbitmqctl("set_disk_free_limit", before)
        wait_for(lambda: "disk" not in alarms(), what="the disk alarm cleared", timeout=30)


def alarms() -> str:
    return support.rabbitmqctl("eval", "rabbit_alarm:get_alarms().")


def test_row01_broker_restart_mid_flight(rig: Rig) -> None:
    """``stop_app`` while records are in flight, 3 s, ``start_app``: the daemon reconnects
    with backoff, unacked deliveries come back and are absorbed by the inbox, unconfirmed
    events are published again; nothing lost, nothing registered twice."""
    rig.start()
    rig.publish(40)
    wait_for(lambda: len(rig.done_ids()) >= 3, what="work under way", timeout=30)
    support.rabbitmqctl("stop_app")
    try:
        time.sleep(3.0)
    finally:
        broker_up()
    rig.reopen_tap()
    rig.publish(10)
    rig.settle(timeout=90)
    rig.verdict().assert_clean()
    assert any(e["event"] == "amqp_connection_lost" for e in rig.logs)


def test_row18_resource_alarm_blocks_feedback_not_consuming(rig: Rig) -> None:
    """Under a disk alarm publishing blocks: the relay's connection is blocked,
    ``blocked_connection_timeout`` fires, the outbox keeps its rows. Consuming goes on:
    records queued before the alarm are committed, acked and sent to DUO. When the alarm
    clears, every event arrives."""
    rig.tap  # noqa: B018 - the tap queue exists before the alarm
    rig.publish(4)              # queued before the alarm (a publisher would block under it)
    with disk_alarm():
        rig.start()
        wait_for(lambda: accepted(rig) >= 4, what="records consumed under the alarm",
                 timeout=30)
        wait_for(lambda: len(control(rig.sim, "ledger")) >= 4,
                 what="sent to DUO under the alarm", timeout=30)
        wait_for(lambda: any(e["event"] in ("amqp_connection_lost", "amqp_connect_failed")
                             and e.get("role") == "relay" for e in rig.logs),
                 what="the relay's blocked connection given up", timeout=30)
        assert not rig.done_ids()
        assert rig.daemon is not None
        assert rig.daemon.store.counts()["outbox"].get("pending", 0) >= 4
    rig.settle(timeout=40)
    rig.verdict().assert_clean()
    assert not consumer_lost(rig)


def test_row18_dead_letter_under_alarm_keeps_the_consumer_alive(rig: Rig) -> None:
    """The suspected issue: a dead-letter copy is published (and its confirm awaited) on
    the consumer's I/O thread; under a resource alarm that publish blocks until
    ``blocked_connection_timeout``. If the wait outlasts the consumer connection's
    heartbeats, the broker drops the consumer and every unacked delivery goes back
    (and is counted by the quorum queue). Here the blocked timeout (12 s) is well past
    two heartbeats (2 s) and pika's own check (heartbeat + 5 s): the consumer's
    connection must survive, the good records beside the bad one must be acked, and
    the bad one must reach the dead queue once the alarm clears."""
    rig.amqp = {"blocked_connection_timeout": 12.0}
    rig.tap  # noqa: B018
    bad = rig.publish_body(b"{not json", [], dead=True)
    rig.publish(3)
    with disk_alarm():
        rig.start()
        wait_for(lambda: accepted(rig) >= 3, what="good records consumed under the alarm",
                 timeout=30)
        time.sleep(14.0)      # the dead-letter publish is blocked for its whole timeout
        lost = consumer_lost(rig)
    rig.settle(timeout=40, dead=1)
    rig.verdict().assert_clean()
    assert [mid for mid in rig.raw_dead] == [bad]
    assert not lost, f"the consumer's connection was lost under the alarm: {lost}"


def accepted(rig: Rig) -> int:
    return sum(1 for e in rig.logs if e["event"] == "message_accepted")


def consumer_lost(rig: Rig) -> list[dict]:
    return [e for e in rig.logs
            if e["event"] == "amqp_connection_lost" and e.get("role") == "consumer"]
