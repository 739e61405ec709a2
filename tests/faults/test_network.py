"""Fault matrix rows 2 and 3: the network between the daemon and RabbitMQ fails (a fault
proxy in front of the broker, heartbeat 2 s); the daemon runs in this process."""

from __future__ import annotations

import time

import pytest
import support

from .conftest import Rig, wait_for


def lost_events(rig: Rig) -> list[dict]:
    return [e for e in rig.logs if e["event"] == "amqp_connection_lost"]


@pytest.mark.parametrize("how", ["close_all_connections", "proxy_reset"])
def test_row02_connection_drop_mid_batch(rig: Rig, how: str) -> None:
    """The broker drops every connection (``rabbitmqctl close_all_connections``), or the
    network resets them (RST): the daemon reconnects, unacked deliveries come back and are
    absorbed by the inbox, each record is registered once; one warning per connection,
    no traceback."""
    proxy = rig.amqp_proxy()
    rig.start()
    rig.publish(8)
    wait_for(lambda: len(rig.done_ids()) >= 2, what="work under way", timeout=20)
    if how == "close_all_connections":
        support.rabbitmqctl("close_all_connections", "-p", rig.vhost, "fault test")
        rig.reopen_tap()
    else:
        proxy.set("reset")
        time.sleep(0.5)
        proxy.heal()
    rig.publish(8)
    wait_for(lambda: rig.daemon is not None and rig.daemon.amqp_connected and lost_events(rig),
             what="reconnected after the drop", timeout=20)
    rig.settle()
    rig.verdict().assert_clean()
    assert {e.get("role") for e in lost_events(rig)} >= {"consumer"}
    assert not any(e.get("exc_info") for e in rig.logs if e["event"] == "amqp_connection_lost")


@pytest.mark.parametrize("direction", ["up", "down"])
def test_row03_network_blackhole(rig: Rig, direction: str) -> None:
    """Bytes towards the broker (up) or from it (down) vanish for at least three heartbeats
    while the sockets stay open: the dead connection is noticed by heartbeats alone, the
    daemon reconnects when the network heals, nothing is lost or sent twice.

    "Within about two heartbeats" is not what pika does: its checker looks every
    ``heartbeat + 5`` seconds and gives up when no byte arrived since the last look, so
    a dead connection is noticed after 7–14 s with a 2 s heartbeat (blackhole down: by
    pika; blackhole up: by the broker, which hears nothing and closes). The bound below
    is pika's: two check intervals."""
    proxy = rig.amqp_proxy()
    rig.start()
    rig.publish(4)
    rig.settle()
    proxy.set(f"blackhole_{direction}")
    started = time.monotonic()
    rig.publish(4)              # straight to the broker: queued while the daemon is cut off
    wait_for(lambda: lost_events(rig), what="the dead connection noticed", timeout=15)
    noticed = time.monotonic() - started
    time.sleep(max(0.0, 6.0 - noticed))
    proxy.heal()
    rig.settle(timeout=40)
    rig.verdict().assert_clean()
    heartbeat = rig.settings.amqp.heartbeat
    assert noticed <= 2 * (heartbeat + 5) + 2, f"noticed after {noticed:.1f} s"


def test_row03_blackhole_while_reconnecting(rig: Rig) -> None:
    """The connections are reset and the broker then accepts sockets but never answers
    (blackhole down): every reconnect times out in the AMQP handshake, which pika raises
    as ``AMQPConnectorStackTimeout`` (not an ``AMQPError``). The consumer must keep
    trying, and consume again once the network heals."""
    proxy = rig.amqp_proxy()
    rig.start()
    rig.publish(2)
    rig.settle()
    proxy.set("reset")
    proxy.set("blackhole_down")
    rig.publish(3)
    wait_for(lambda: sum(1 for e in rig.logs if e["event"] == "amqp_connect_failed"
                         or (e["event"] == "amqp_connection_lost")) >= 2,
             what="reconnects failing", timeout=20)
    time.sleep(5.0)              # at least one handshake timeout (2 × connect_timeout)
    proxy.heal()
    rig.settle(timeout=40)
    rig.verdict().assert_clean()
    assert rig.daemon is not None and rig.daemon._threads["consumer"].is_alive()
    assert not any(e["event"] == "consumer_worker_error" for e in rig.logs)
