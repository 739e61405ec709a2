"""The inbox consumer against the real broker (one vhost per test)."""

from __future__ import annotations

import threading
import time

import pika
import pytest
from structlog.testing import capture_logs

from adapter.sis import Consumer, Delivery, Disposition, declare_topology, publish_export
from adapter.sis.consumer import ack_plan

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


class Recorder:
    """A handler that records deliveries and answers from a script (default: ack)."""

    def __init__(self, script: list[object] | None = None) -> None:
        self.script = list(script or [])
        self.seen: list[Delivery] = []
        self.lock = threading.Lock()

    def __call__(self, delivery: Delivery) -> Disposition:
        with self.lock:
            self.seen.append(delivery)
            step = self.script.pop(0) if self.script else Disposition("ack")
        if callable(step):
            step = step(delivery)
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, Disposition)
        return step

    def ids(self) -> list[str | None]:
        with self.lock:
            return [d.message_id for d in self.seen]


def inbox_ready(broker) -> int:
    """Ready messages in the inbox once the consumer is gone (final: see Broker.settled)."""
    return broker.settled(broker.settings.inbox_queue)


def test_acked_only_after_handle_returns(broker, start, wait_for) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(delivery: Delivery) -> Disposition:
        entered.set()
        assert release.wait(30)
        return Disposition("ack")

    states: list[str] = []
    consumer = Consumer(broker.settings, Recorder([slow]), on_state=states.append)
    runner = start(consumer.run)
    wait_for(lambda: states == ["connected"])
    message_id = publish_export(broker.settings, body=b'{"a": 1}', vendor="eduarte",
                                content_type="application/json", headers={"x-vendor": "eduarte"})
    assert entered.wait(5)
    # Inside handle: the delivery is held unacknowledged (rabbitmqctl lags ~5 s on quorum queues).
    wait_for(lambda: broker.queues().get(broker.settings.inbox_queue) == (0, 1), timeout=15,
             interval=0.5)
    release.set()
    assert runner.stop() < 3
    # Had the ack not been sent before the connection closed, the message would be back.
    assert inbox_ready(broker) == 0
    delivery = consumer._handle.seen[0]
    assert delivery.message_id == message_id and delivery.routing_key == "eduarte.export"
    assert delivery.content_type == "application/json" and delivery.body == b'{"a": 1}'
    assert delivery.headers["x-vendor"] == "eduarte" and delivery.timestamp
    assert delivery.redelivered is False
    assert states == ["connected", "disconnected"]


def test_dead_copies_to_dead_queue_with_reason_then_acks(broker, start, wait_for) -> None:
    handler = Recorder([Disposition("dead", "decode: body is not JSON")])
    runner = start(Consumer(broker.settings, handler).run)
    message_id = publish_export(broker.settings, body=b"not json", vendor="magister",
                                declare=True, headers={"x-vendor": "magister"})
    channel = broker.channel()
    got = wait_for(lambda: (lambda r: r if r[0] else None)(
        channel.basic_get(broker.settings.dead_queue, auto_ack=True)))
    method, props, body = got
    runner.stop()
    assert body == b"not json" and props.message_id == message_id
    assert method.routing_key == "magister.export"
    assert props.headers["x-verzuim-reason"] == "decode: body is not JSON"
    assert props.headers["x-verzuim-routing-key"] == "magister.export"
    assert props.headers["x-vendor"] == "magister" and props.delivery_mode == 2
    assert inbox_ready(broker) == 0
    assert handler.ids() == [message_id]


def test_handler_crash_requeues_and_redelivers(broker, start, wait_for) -> None:
    handler = Recorder([ValueError("boom with a BSN 123456782")])
    consumer = Consumer(broker.settings, handler, pause_base=0.1)
    with capture_logs() as logs:
        runner = start(consumer.run)
        message_id = publish_export(broker.settings, body=b"{}", vendor="eduarte", declare=True)
        wait_for(lambda: len(handler.seen) == 2)
        runner.stop()
    first, second = handler.seen
    assert first.message_id == second.message_id == message_id
    assert second.redelivered is True and second.headers.get("x-delivery-count") == 1
    crashed = [e for e in logs if e["event"] == "consumer_handler_crashed"]
    assert crashed and crashed[0]["error"] == "ValueError"
    assert "123456782" not in repr(logs)
    assert inbox_ready(broker) == 0


def test_requeue_holds_the_delivery_without_counting_it(broker, start, wait_for) -> None:
    handler = Recorder([Disposition("requeue"), Disposition("requeue")])
    runner = start(Consumer(broker.settings, handler, pause_base=0.1).run)
    publish_export(broker.settings, body=b"{}", vendor="eduarte", declare=True)
    wait_for(lambda: len(handler.seen) == 3)
    runner.stop()
    tags = {d.delivery_tag for d in handler.seen}
    assert len(tags) == 1, "the same delivery is retried in place"
    assert not any(d.redelivered for d in handler.seen)
    assert inbox_ready(broker) == 0


def test_heartbeats_survive_a_slow_handler(broker, start, wait_for) -> None:
    settings = broker.settings.model_copy(update={"heartbeat": 2})
    states: list[str] = []
    handler = Recorder([lambda d: (time.sleep(6.5), Disposition("ack"))[1]])
    runner = start(Consumer(settings, handler, on_state=states.append).run)
    wait_for(lambda: states)
    publish_export(settings, body=b"slow", vendor="eduarte")
    publish_export(settings, body=b"fast", vendor="eduarte")
    wait_for(lambda: len(handler.seen) == 2, timeout=15)
    runner.stop()
    assert [d.body for d in handler.seen] == [b"slow", b"fast"]
    assert states == ["connected", "disconnected"], "the connection was never lost"
    assert inbox_ready(broker) == 0


def test_reconnects_after_connections_are_closed_and_loses_nothing(broker, start, wait_for) -> None:
    settings = broker.settings.model_copy(update={"reconnect_max_seconds": 1.0, "prefetch": 5})
    declare_topology(broker.channel(), settings)
    sent = [publish_export(settings, body=b"{}", vendor="eduarte") for _ in range(30)]
    closed = threading.Event()

    def held(delivery: Delivery) -> Disposition:
        assert closed.wait(20)            # in the handler while the connection is closed
        return Disposition("ack")

    handler = Recorder([Disposition("ack")] * 4 + [held])
    states: list[str] = []
    with capture_logs() as logs:
        runner = start(Consumer(settings, handler, on_state=states.append).run)
        wait_for(lambda: len(handler.seen) == 5)
        broker.close_connections()
        closed.set()
        wait_for(lambda: set(sent) <= set(handler.ids()) and states.count("connected") == 2,
                 timeout=20)
        runner.stop()
    assert states == ["connected", "disconnected", "connected", "disconnected"]
    lost = [e for e in logs if e["event"] == "amqp_connection_lost"]
    assert len(lost) == 1 and lost[0]["url"].startswith("amqp://guest:***@")
    # The delivery whose ack could not reach the closed channel came back, flagged.
    again = [d for d in handler.seen if d.message_id == sent[4]]
    assert len(again) == 2 and again[1].redelivered
    assert inbox_ready(broker) == 0


def test_stop_flushes_current_ack_and_leaves_the_rest(broker, start, wait_for) -> None:
    entered = threading.Event()

    def slow(delivery: Delivery) -> Disposition:
        entered.set()
        time.sleep(0.5)
        return Disposition("ack")

    handler = Recorder([slow])
    declare_topology(broker.channel(), broker.settings)
    for _ in range(5):
        publish_export(broker.settings, body=b"{}", vendor="eduarte")
    runner = start(Consumer(broker.settings, handler).run)
    assert entered.wait(5)
    assert runner.stop() < 2
    assert len(handler.seen) == 1                 # prefetched neighbours were not handled
    # The handled one was acked, the rest returned: the broker counts returns once it has
    # processed the close (seen lagging on a busy machine), so wait for it, bounded.
    assert broker.ready(broker.settings.inbox_queue, 4) == 4
    assert inbox_ready(broker) == 4


def test_returned_deliveries_are_counted_only_after_the_close(broker) -> None:
    """The old failure, made deterministic: while a closed consumer's deliveries are not
    yet returned, one read of the count says 0 (as seen under load); the bounded wait
    sees all of them once the broker has processed the close."""
    declare_topology(broker.channel(), broker.settings)
    for _ in range(4):
        publish_export(broker.settings, body=b"{}", vendor="eduarte")
    holder = pika.BlockingConnection(pika.URLParameters(broker.settings.url))
    channel = holder.channel()
    channel.basic_qos(prefetch_count=10)
    held: list[int] = []
    channel.basic_consume(broker.settings.inbox_queue,
                          lambda ch, method, props, body: held.append(method.delivery_tag))
    deadline = time.monotonic() + 10
    while len(held) < 4 and time.monotonic() < deadline:
        holder.process_data_events(time_limit=0.1)
    assert len(held) == 4
    assert broker.counts(broker.settings.inbox_queue)[0] == 0   # one read: "nothing there"
    holder.close()                                               # the returns start now
    assert broker.ready(broker.settings.inbox_queue, 4) == 4
    assert inbox_ready(broker) == 4


def test_stop_returns_promptly_when_idle(broker, start, wait_for) -> None:
    states: list[str] = []
    runner = start(Consumer(broker.settings, Recorder(), on_state=states.append).run)
    wait_for(lambda: states == ["connected"])
    assert runner.stop() < 1.0


def test_oversized_body_is_dead_lettered_without_calling_handle(broker, start, wait_for) -> None:
    settings = broker.settings.model_copy(update={"max_body_bytes": 1024})
    handler = Recorder()
    runner = start(Consumer(settings, handler).run)
    publish_export(settings, body=b"x" * 2000, vendor="eduarte", declare=True)
    channel = broker.channel()
    method, props, _ = wait_for(lambda: (lambda r: r if r[0] else None)(
        channel.basic_get(settings.dead_queue, auto_ack=True)))
    runner.stop()
    assert handler.seen == []
    assert "max_body_bytes" in props.headers["x-verzuim-reason"]
    assert isinstance(method, pika.spec.Basic.GetOk)


class BatchRecorder:
    """A ``handle_many`` that takes a prefix of up to ``take`` deliveries (or raises)."""

    def __init__(self, take: int, crash: bool = False) -> None:
        self.take, self.crash = take, crash
        self.batches: list[list[str | None]] = []
        self.taken: list[str | None] = []

    def __call__(self, deliveries: list[Delivery]) -> list[Disposition]:
        self.batches.append([d.message_id for d in deliveries])
        if self.crash:
            raise RuntimeError("a bug in handle_many")
        prefix = deliveries[:self.take]
        self.taken += [d.message_id for d in prefix]
        return [Disposition("ack") for _ in prefix]


def test_waiting_deliveries_go_to_handle_many_then_the_rest_to_handle_in_order(
        broker, start, wait_for) -> None:
    declare_topology(broker.channel(), broker.settings)
    sent = [publish_export(broker.settings, body=b"{}", vendor="eduarte") for _ in range(20)]
    handler, many = Recorder(), BatchRecorder(take=3)
    runner = start(Consumer(broker.settings, handler, handle_many=many).run)
    wait_for(lambda: len(many.taken) + len(handler.seen) >= 20)
    runner.stop()
    assert any(len(batch) > 1 for batch in many.batches)
    assert all(len(batch) <= 32 for batch in many.batches)
    # Each delivery once: a batch's prefix by handle_many, its rest by handle, in order.
    order = []
    for batch in many.batches:
        order += batch
    assert sorted(many.taken + handler.ids()) == sorted(sent)
    assert [m for m in order if m in set(many.taken) | set(handler.ids())] == sent
    assert inbox_ready(broker) == 0          # every one acked


def test_a_crash_in_handle_many_leaves_every_delivery_to_handle(broker, start, wait_for) -> None:
    declare_topology(broker.channel(), broker.settings)
    sent = [publish_export(broker.settings, body=b"{}", vendor="eduarte") for _ in range(6)]
    handler, many = Recorder(), BatchRecorder(take=3, crash=True)
    with capture_logs() as logs:
        runner = start(Consumer(broker.settings, handler, handle_many=many).run)
        wait_for(lambda: len(handler.seen) >= 6)
        runner.stop()
    assert handler.ids() == sent and many.taken == []
    assert any(e["event"] == "consumer_handler_crashed" for e in logs)
    assert inbox_ready(broker) == 0


def test_stop_during_a_batch_leaves_the_rest_of_it(broker, start, wait_for) -> None:
    entered = threading.Event()

    def slow(delivery: Delivery) -> Disposition:
        entered.set()
        time.sleep(0.5)
        return Disposition("ack")

    handler, many = Recorder([slow]), BatchRecorder(take=0)
    declare_topology(broker.channel(), broker.settings)
    for _ in range(5):
        publish_export(broker.settings, body=b"{}", vendor="eduarte")
    runner = start(Consumer(broker.settings, handler, handle_many=many).run)
    assert entered.wait(5)
    assert runner.stop() < 2
    assert len(handler.seen) == 1                 # the rest of the batch was not handled
    assert broker.ready(broker.settings.inbox_queue, 4) == 4
    assert inbox_ready(broker) == 4


def test_a_nack_between_acked_batches_redelivers_that_one_only(broker, start, wait_for) -> None:
    # handle_many acks a prefix of three; handle crashes on the fourth (nacked, requeued)
    # and acks the rest: the acks go as multiple acks, and must sweep neither the nacked
    # delivery nor one the worker has not settled.
    declare_topology(broker.channel(), broker.settings)
    sent = [publish_export(broker.settings, body=b"{}", vendor="eduarte") for _ in range(8)]
    handler, many = Recorder([ValueError("boom")]), BatchRecorder(take=3)
    runner = start(Consumer(broker.settings, handler, handle_many=many, pause_base=0.05).run)
    wait_for(lambda: len(set(many.taken) | set(handler.ids())) == 8
             and len(many.taken) + len(handler.ids()) >= 9)
    runner.stop()
    handled = many.taken + handler.ids()
    crashed = handler.ids()[0]
    assert crashed == sent[3]
    assert handled.count(crashed) == 2 and handler.seen[0].redelivered is False
    assert sorted(set(handled)) == sorted(sent)
    assert all(handled.count(m) == 1 for m in sent if m != crashed)
    assert inbox_ready(broker) == 0


@pytest.mark.parametrize(("unsettled", "acks", "plan"), [
    ([1, 2, 3], {1, 2, 3}, (3, [])),            # a whole batch: one multiple ack
    ([4, 5, 6, 7], {4, 5}, (5, [])),            # its first part; 6 and 7 still held
    ([4, 5, 6, 7], {4, 6, 7}, (4, [6, 7])),     # 5 is held: no multiple ack past it
    ([5, 6, 7], {6}, (None, [6])),              # the oldest is held: one by one
    ([9], {9}, (9, [])),
])
def test_ack_plan_never_reaches_past_a_delivery_still_held(
        unsettled: list[int], acks: set[int], plan: tuple[int | None, list[int]]) -> None:
    assert ack_plan(unsettled, acks) == plan
