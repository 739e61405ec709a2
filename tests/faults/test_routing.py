"""Fault matrix row 19: the SIS's output binding disappears mid-run, so the adapter's
events are unroutable; the daemon runs in this process."""

from __future__ import annotations

import time

from .conftest import Rig, wait_for


def test_row19_unroutable_feedback_stays_in_the_outbox(rig: Rig) -> None:
    """With the binding gone, ``mandatory`` publishes come back (``outbox_unroutable``),
    the rows stay unpublished and are retried; once the binding is back every event
    arrives, nothing lost, nothing sent twice to DUO."""
    rig.start()
    rig.publish(2)
    rig.settle()
    tap = rig.tap
    amqp = rig.direct.amqp
    tap.channel.queue_unbind(tap.queue, amqp.adapter_exchange, routing_key="#")
    rig.publish(3)
    wait_for(lambda: any(e["event"] == "outbox_unroutable" for e in rig.logs),
             what="an unroutable event", timeout=20)
    time.sleep(1.0)
    assert len(rig.done_ids()) == 2          # nothing arrived while unbound
    assert rig.daemon is not None and rig.daemon.store.counts()["outbox"].get("pending", 0) >= 1
    tap.channel.queue_bind(tap.queue, amqp.adapter_exchange, routing_key="#")
    rig.settle(timeout=30)
    rig.verdict().assert_clean()
