"""The outbox relay against the real broker.

The outbox table is a small in-memory stand-in (the store is not under test
here); the broker, confirms and returns are real.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest
from structlog.testing import capture_logs

from adapter.domain.model import OutboundEvent
from adapter.sis import OutboxRelay, declare_event_tap

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


class Outbox:
    """Rows ``id -> event``; ``fetch`` returns the oldest unpublished, like the store."""

    def __init__(self, events: list[OutboundEvent]) -> None:
        self.rows = dict(enumerate(events, start=1))
        self.published: set[int] = set()
        self.mark_calls = 0
        self.lock = threading.Lock()

    def fetch(self, limit: int, exclude: object = ()) -> list[tuple[int, OutboundEvent]]:
        """Like the store's ``pending_events``: ``exclude`` lists ``(vendor, brin, event)``."""
        skip = set(exclude)   # type: ignore[call-overload]
        with self.lock:
            rows = [(i, e) for i, e in sorted(self.rows.items()) if i not in self.published
                    and (e.vendor, e.brin, e.event) not in skip]
            return rows[:limit]

    def first(self, routes: list[tuple[str, str, str]]) -> list[tuple[int, OutboundEvent]]:
        """Like the store's ``first_pending_events``: the oldest row of each route."""
        found: dict[tuple[str, str, str], tuple[int, OutboundEvent]] = {}
        with self.lock:
            for i, e in sorted(self.rows.items()):
                route = (e.vendor, e.brin, e.event)
                if i not in self.published and route in routes and route not in found:
                    found[route] = (i, e)
        return sorted(found.values(), key=lambda row: row[0])

    def mark(self, ids: list[int]) -> None:
        with self.lock:
            assert not self.published & set(ids), "a row was marked twice"
            self.published.update(ids)
            self.mark_calls += 1

    def add(self, event: OutboundEvent) -> int:
        with self.lock:
            new_id = max(self.rows, default=0) + 1
            self.rows[new_id] = event
            return new_id


def event(n: int, vendor: str = "eduarte", kind: str = "registered") -> OutboundEvent:
    return OutboundEvent(message_id=f"evt-{vendor}-{n}", vendor=vendor, brin="00AA", event=kind,
                         source_id=f"src-{n}", data={"n": n},
                         created_at=datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))


def render(e: OutboundEvent) -> tuple[bytes, str]:
    return json.dumps(e.data).encode(), "application/json"


def queue_count(broker, name: str, expected: int) -> int:
    """The ready count of ``name`` once it reached ``expected`` (bounded wait: counts lag)."""
    return broker.ready(name, expected)


def test_relays_500_events_with_confirms(broker, start, wait_for) -> None:
    tap = declare_event_tap(broker.channel(), broker.settings, "tap")
    outbox = Outbox([event(n) for n in range(500)])
    relay = OutboxRelay(broker.settings, outbox.fetch, outbox.mark, render, window=100)
    runner = start(relay.run)
    wait_for(lambda: len(outbox.published) == 500, timeout=20)
    assert runner.stop() < 2
    assert outbox.mark_calls <= 10, "confirms are collected per window, not per message"
    assert queue_count(broker, tap, 500) == 500
    method, props, body = broker.channel().basic_get(tap, auto_ack=True)
    assert method.routing_key == "eduarte.00AA.registered"
    assert props.message_id == "evt-eduarte-0" and props.delivery_mode == 2
    assert props.content_type == "application/json" and json.loads(body) == {"n": 0}
    assert props.headers["x-verzuim-event"] == "registered"
    assert props.timestamp == int(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc).timestamp())


def test_unroutable_stays_unpublished_until_a_queue_is_bound(broker, start, wait_for) -> None:
    settings = broker.settings.model_copy(update={"reconnect_max_seconds": 1.0})
    declare_event_tap(broker.channel(), settings, "eduarte-only", routing_key="eduarte.#")
    outbox = Outbox([event(1, vendor="magister"), event(2), event(3, kind="crash")])

    def fragile_render(e: OutboundEvent) -> tuple[bytes, str]:
        if e.event == "crash":
            raise ValueError("cannot render")
        return render(e)

    relay = OutboxRelay(settings, outbox.fetch, outbox.mark, fragile_render, idle_wait=0.1)
    with capture_logs() as logs:
        runner = start(relay.run)
        wait_for(lambda: 2 in outbox.published)
        wait_for(lambda: any(e["event"] == "outbox_unroutable" for e in logs))
        assert 1 not in outbox.published and 3 not in outbox.published
        declare_event_tap(broker.channel(), settings, "magister", routing_key="magister.#")
        wait_for(lambda: 1 in outbox.published, timeout=10)
        runner.stop()
    unroutable = [e for e in logs if e["event"] == "outbox_unroutable"]
    assert {e.get("outbox_id") for e in unroutable} == {1}
    assert any(e["event"] == "outbox_render_failed" and e["outbox_id"] == 3
               and e["event_kind"] == "crash" for e in logs)
    assert 3 not in outbox.published
    assert queue_count(broker, "magister", 1) == 1
    assert queue_count(broker, "eduarte-only", 1) == 1


def test_wake_publishes_without_waiting_for_idle(broker, start, wait_for) -> None:
    tap = declare_event_tap(broker.channel(), broker.settings, "tap")
    outbox = Outbox([])
    relay = OutboxRelay(broker.settings, outbox.fetch, outbox.mark, render, idle_wait=30)
    runner = start(relay.run)
    wait_for(lambda: relay._session is not None and relay._session.connected)
    new_id = outbox.add(event(7))
    relay.wake()
    wait_for(lambda: new_id in outbox.published, timeout=3)
    assert runner.stop() < 1.0
    assert queue_count(broker, tap, 1) == 1


def test_a_quiet_relay_publishes_at_once_a_busy_one_gathers(broker, start, wait_for,
                                                            monkeypatch) -> None:
    """A wake after a quiet spell publishes at once; wakes while the relay is busy (it
    published within the gather time) are gathered into one window."""
    import adapter.sis.publisher as publisher
    monkeypatch.setattr(publisher, "_GATHER", 5.0)
    tap = declare_event_tap(broker.channel(), broker.settings, "tap")
    outbox = Outbox([])
    relay = OutboxRelay(broker.settings, outbox.fetch, outbox.mark, render, idle_wait=30)
    runner = start(relay.run)
    wait_for(lambda: relay._session is not None and relay._session.connected)
    first = outbox.add(event(1))
    relay.wake()
    wait_for(lambda: first in outbox.published, timeout=3)     # not after 5 s of gathering
    assert outbox.mark_calls == 1
    later = [outbox.add(event(2)), outbox.add(event(3))]
    for _ in later:
        relay.wake()
    wait_for(lambda: set(later) <= outbox.published, timeout=15)
    assert outbox.mark_calls == 2          # the two came in one window
    runner.stop()
    assert queue_count(broker, tap, 3) == 3


def test_relay_reconnects_after_connection_loss(broker, start, wait_for) -> None:
    settings = broker.settings.model_copy(update={"reconnect_max_seconds": 1.0})
    tap = declare_event_tap(broker.channel(), settings, "tap")
    outbox = Outbox([event(n) for n in range(200)])
    gate = threading.Event()
    first_batch = threading.Event()

    def slow_mark(ids: list[int]) -> None:
        first_batch.set()
        assert gate.wait(10)
        outbox.mark(ids)

    relay = OutboxRelay(settings, outbox.fetch, slow_mark, render, window=50)
    with capture_logs() as logs:
        runner = start(relay.run)
        assert first_batch.wait(10)
        broker.close_connections()
        gate.set()
        wait_for(lambda: len(outbox.published) == 200, timeout=15)
        runner.stop()
    assert [e["role"] for e in logs if e["event"] == "amqp_connection_lost"] == ["relay"]
    assert [e["event"] for e in logs if e["event"] == "amqp_connected"] == ["amqp_connected"] * 2
    # duplicates allowed (same message_id), no loss
    assert wait_for(lambda: broker.counts(tap)[0] >= 200, timeout=15)


def test_unroutable_vendor_does_not_hold_back_another(broker, start, wait_for) -> None:
    """3,000 rows nobody can route (vendor ``magister``, no queue bound) ahead of 100
    routable ones: the routable ones go at once, the others follow once a queue is bound;
    one warning when the route stops, one info when it flows again."""
    settings = broker.settings.model_copy(update={"reconnect_max_seconds": 2.0})
    declare_event_tap(broker.channel(), settings, "eduarte-only", routing_key="eduarte.#")
    outbox = Outbox([event(n, vendor="magister") for n in range(3000)]
                    + [event(n) for n in range(100)])
    stuck = set(range(1, 3001))
    fetched: list[int] = []

    def fetch(limit: int, exclude: object = ()) -> list[tuple[int, OutboundEvent]]:
        rows = outbox.fetch(limit, exclude)
        fetched.append(len(rows))
        return rows

    relay = OutboxRelay(settings, fetch, outbox.mark, render, idle_wait=0.1, probe=outbox.first)
    with capture_logs() as logs:
        runner = start(relay.run)
        wait_for(lambda: len(outbox.published) == 100, timeout=5)
        assert not outbox.published & stuck
        assert queue_count(broker, "eduarte-only", 100) == 100
        # Probes keep failing for a while: still one warning, nothing published.
        wait_for(lambda: relay.stopped and relay.stopped[("magister", "00AA", "registered")]
                 .failures >= 3, timeout=10)
        assert not outbox.published & stuck
        declare_event_tap(broker.channel(), settings, "magister", routing_key="magister.#")
        wait_for(lambda: stuck <= outbox.published, timeout=15)
        runner.stop()
    assert max(fetched) <= 100 + 10 * 100, "fetches stay bounded"
    warnings = [e for e in logs if e["event"] == "outbox_unroutable"]
    assert len(warnings) == 1 and warnings[0]["routing_key"] == "magister.00AA.registered"
    assert warnings[0]["log_level"] == "warning"
    flowing = [e for e in logs if e["event"] == "outbox_routable"]
    assert len(flowing) == 1 and flowing[0]["log_level"] == "info"
    assert flowing[0]["routing_key"] == "magister.00AA.registered"
    assert queue_count(broker, "magister", 3000) == 3000
    assert not relay.stopped


def test_fair_with_the_store_queries(broker, start, wait_for, tmp_path) -> None:
    """The same against the store's own queries (SQLite), wired as the daemon wires them."""
    from adapter.store import Store
    from adapter.store import outbox as store_outbox

    settings = broker.settings.model_copy(update={"reconnect_max_seconds": 1.0})
    declare_event_tap(broker.channel(), settings, "eduarte-only", routing_key="eduarte.#")
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")

    def add(conn) -> None:
        for e in [event(n, vendor="magister") for n in range(1500)] + [event(n) for n in range(50)]:
            store_outbox.outbox_event(conn, message_id=e.message_id, vendor=e.vendor, brin=e.brin,
                                      event=e.event, source_id=e.source_id, data=e.data,
                                      at=e.created_at)
    store._db.run("test", add)

    def published() -> int:
        return store.counts()["outbox"].get("published", 0)

    relay = OutboxRelay(settings, store.pending_events, store.mark_published, render,
                        idle_wait=0.1, probe=store.first_pending_events)
    try:
        runner = start(relay.run)
        wait_for(lambda: published() == 50, timeout=5)
        assert all(e.vendor == "magister" for _, e in store.pending_events(2000))
        declare_event_tap(broker.channel(), settings, "magister", routing_key="magister.#")
        wait_for(lambda: published() == 1550, timeout=15)
        runner.stop()
    finally:
        store.close()
    assert queue_count(broker, "magister", 1500) == 1500
