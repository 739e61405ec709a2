"""The inbox consumer: one pika I/O thread, one worker thread, late acks.

Threads and ownership (pika connections are confined to their thread):

- the thread calling :meth:`Consumer.run` owns the consuming
  ``BlockingConnection``. It loops on ``process_data_events`` (so heartbeats
  flow while the handler is slow), queues deliveries for the worker, and
  performs every ack and nack;
- one worker thread calls ``handle`` for one delivery at a time, in delivery
  order, owns the dead-letter publishing connection (and publishes the dead
  copies), and hands the settlement back through a queue plus
  ``connection.add_callback_threadsafe`` (the only thread-safe pika call).
  With ``handle_many``, the worker first offers the deliveries waiting (up to
  :data:`BATCH`) to it: it commits a run of them at once and acks them after
  that one commit; what it leaves goes to ``handle`` one by one, in order.
  The dead-letter publish waits for its broker confirm, and under a resource
  alarm that wait lasts up to ``blocked_connection_timeout``: on the I/O
  thread it would starve the consuming connection's heartbeats, and the
  broker would drop the consumer (fault matrix row 18, docs/reliability.md).

Dispositions:

- ``ack``: the handler committed the message to the store → ``basic_ack``. The acks
  waiting when the I/O thread settles go together: one ``multiple`` ack for the
  run that starts at the oldest unsettled delivery, one each for the rest
  (:func:`ack_plan`).
- ``dead``: the worker publishes a copy (body, routing key, ``message_id``,
  headers, plus ``x-verzuim-reason`` and ``x-verzuim-routing-key``) to the dead
  exchange on a separate confirmed connection, waits for the confirm, then the
  original is acked. If that publish fails the original is nacked with requeue
  and the worker pauses.
- ``requeue`` while stopping: the handler gave way to the stop at a safe point
  (see :attr:`Consumer.stopping`); the delivery stays unacked and goes back to
  the broker when the connection closes.
- ``requeue``: a system fault (store down). The delivery stays unacked and is
  handed to ``handle`` again after a growing pause; it is **not** nacked back
  to the broker, because on a quorum queue every nack-requeue increments
  ``x-delivery-count`` (verified on RabbitMQ 3.10), so a store outage would
  push healthy messages past ``x-delivery-limit`` into the dead queue. It goes
  back to the broker only if the connection drops or the consumer stops.
- ``handle`` raising: a crash, possibly a poison message. Only that delivery
  is nacked with requeue (counted: the queue's delivery limit is the poison
  net) and the worker pauses; prefetched neighbours are untouched.

On connection loss everything unacked is redelivered by the broker; the
worker drops deliveries and settlements of the old connection (tracked by a
generation number), so an ack never reaches a channel that did not deliver it.
Note that RabbitMQ 3.10 also counts those returns (channel close, connection
loss, stop) in ``x-delivery-count`` for every prefetched unacked message, so
``delivery_limit`` must leave room for restarts, not only for poison.

A missing or mismatching topology (:class:`ConfigError` from
:func:`declare_topology`) is logged as ``amqp_topology_invalid`` and retried
with the same backoff as a lost connection.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import pika
import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from adapter.backoff import backoff_delay
from adapter.config import AmqpSettings
from adapter.errors import ConfigError
from adapter.logging import named
from adapter.sis.connection import connection_parameters, redact_url
from adapter.sis.deadletter import DeadLetterPublisher
from adapter.sis.delivery import Delivery, Disposition
from adapter.sis.topology import declare_topology

log = structlog.get_logger(__name__)

__all__ = ["Consumer", "Delivery", "Disposition"]

# A connect that times out in the AMQP handshake (a broker or network that accepts the
# socket and then says nothing) surfaces from BlockingConnection as pika's
# AMQPConnectorStackTimeout, which is not an AMQPError (fault matrix row 3).
_CONNECT_ERRORS = (pika.exceptions.AMQPError, AMQPConnectorException)
_RECOVERABLE = (*_CONNECT_ERRORS, ConfigError, OSError)
#: Deliveries the worker offers to ``handle_many`` at once (at most ``amqp.prefetch``
#: are ever waiting).
BATCH = 32


@dataclass(frozen=True)
class _Settled:
    generation: int
    delivery: Delivery
    disposition: Disposition


#: Takes a handled delivery's place in the batch, so its body can be freed.
_HANDLED = Delivery(body=b"", routing_key="", message_id=None, content_type=None, headers={},
                    redelivered=False, timestamp=None, delivery_tag=0)


class _SessionLost(Exception):
    """The channel was closed or the consumer cancelled by the broker."""


class Consumer:
    """Consumes ``settings.inbox_queue`` and settles each delivery after ``handle`` returns."""

    def __init__(self, settings: AmqpSettings, handle: Callable[[Delivery], Disposition], *,
                 handle_many: Callable[[list[Delivery]], list[Disposition]] | None = None,
                 on_state: Callable[[str], None] | None = None,
                 pause_base: float = 1.0) -> None:
        """``handle_many(deliveries)``: commits a prefix of the deliveries at once and
        returns its dispositions, each ``ack`` (``Intake.handle_many``); optional.
        ``pause_base``: first pause (seconds) after a crash or ``requeue``; doubles per
        consecutive failure, capped at ``reconnect_max_seconds``. Raises ``ConfigError``
        for an invalid URL or unreadable TLS files."""
        self._settings = settings
        self._handle = handle
        self._handle_many = handle_many
        self._on_state = on_state
        self._pause_base = pause_base
        self._url = redact_url(settings.url)
        # Built once: a bad URL or unreadable TLS file raises ConfigError here, not in run().
        self._params = connection_parameters(settings, name="verzuim-adapter consumer")
        self._dead_params = connection_parameters(settings, name="verzuim-adapter dead-letters")
        self._deliveries: queue.Queue[tuple[int, Delivery]] = queue.Queue()
        self._settled: queue.Queue[_Settled] = queue.Queue()
        self._lock = threading.Lock()
        self._generation = 0          # bumped by the I/O thread per connection
        self._busy = False            # worker is inside one delivery
        self._draining = False        # stop: the worker takes no new delivery
        self._exit = threading.Event()
        self._stop: threading.Event | None = None
        self._pause_attempt = 0
        self._conn: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._dead = DeadLetterPublisher(settings, self._dead_params)   # the worker's
        self._consumer_tag: str | None = None
        # The I/O thread's: this channel's deliveries not settled yet, in delivery order.
        self._unsettled: dict[int, None] = {}
        self._cancelled = False
        self._connected = False

    # -- I/O thread -------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with backoff; blocks.

        Returns after the in-flight delivery is handled and its ack flushed;
        deliveries not yet handled are left unacked (the broker redelivers).
        """
        self._exit.clear()
        self._stop = stop
        worker = threading.Thread(target=named(self._work), name="amqp-consumer-worker",
                                  daemon=True)
        worker.start()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self._session(stop)
                except _RECOVERABLE + (_SessionLost,) as exc:
                    self._log_failure(exc, failures)
                    failures += 1
                else:
                    failures = 0
                finally:
                    if self._connected:
                        self._connected = False
                        self._notify("disconnected")
                if not stop.is_set():
                    stop.wait(backoff_delay(failures - 1, base=0.5,
                                            cap=self._settings.reconnect_max_seconds))
        finally:
            self._exit.set()
            worker.join()

    @property
    def stopping(self) -> bool:
        """True once :meth:`run` was told to stop: a long handler should return
        ``requeue`` at its next safe point (the delivery goes back to the broker)."""
        stop = self._stop
        return self._draining or self._exit.is_set() or (stop is not None and stop.is_set())

    def _log_failure(self, exc: BaseException, failures: int) -> None:
        fields = {"role": "consumer", "url": self._url, "error": type(exc).__name__,
                  "detail": str(exc)[:200]}
        if isinstance(exc, ConfigError):
            (log.error if failures == 0 else log.debug)("amqp_topology_invalid", **fields)
        elif self._connected:
            log.warning("amqp_connection_lost", **fields)
        elif failures == 0:
            log.warning("amqp_connect_failed", **fields)
        else:
            log.debug("amqp_connect_failed", attempt=failures + 1, **fields)

    def _session(self, stop: threading.Event) -> None:
        conn = BlockingConnection(self._params)
        try:
            channel = conn.channel()
            declare_topology(channel, self._settings)
            channel.basic_qos(prefetch_count=self._settings.prefetch)
            channel.add_on_cancel_callback(self._on_broker_cancel)
            with self._lock:
                self._generation += 1
                self._draining = False
            self._unsettled = {}     # a channel numbers its deliveries from 1
            self._conn, self._channel, self._cancelled = conn, channel, False
            self._consumer_tag = channel.basic_consume(
                self._settings.inbox_queue, self._on_message, auto_ack=False)
            self._connected = True
            log.info("amqp_connected", role="consumer", url=self._url)
            self._notify("connected")
            while not stop.is_set():
                conn.process_data_events(time_limit=0.2)
                self._apply_settled()
                if channel.is_closed or self._cancelled:
                    raise _SessionLost("channel closed or consumer cancelled by the broker")
            self._drain(conn, channel)
        finally:
            with self._lock:
                self._generation += 1      # the worker drops what this connection delivered
            self._conn = self._channel = None
            _drop_all(self._deliveries)
            if conn.is_open:
                try:
                    conn.close()
                except pika.exceptions.AMQPError:
                    pass

    def _drain(self, conn: BlockingConnection, channel: BlockingChannel) -> None:
        """Stop: cancel, let the worker finish its delivery, flush its settlement."""
        if self._consumer_tag is not None and channel.is_open:
            channel.basic_cancel(self._consumer_tag)
        with self._lock:
            self._draining = True
        while True:
            with self._lock:
                if not self._busy:
                    break
            conn.process_data_events(time_limit=0.05)
            self._apply_settled()
        self._apply_settled()
        log.info("consumer_stopped", url=self._url)

    def _on_broker_cancel(self, _frame: object) -> None:
        self._cancelled = True

    def _on_message(self, _channel: BlockingChannel, method: pika.spec.Basic.Deliver,
                    props: pika.BasicProperties, body: bytes) -> None:
        delivery = Delivery(
            body=body, routing_key=str(method.routing_key), message_id=props.message_id,
            content_type=props.content_type, headers=dict(props.headers or {}),
            redelivered=bool(method.redelivered), timestamp=props.timestamp,
            delivery_tag=int(method.delivery_tag or 0))
        self._unsettled[delivery.delivery_tag] = None
        self._deliveries.put((self._generation, delivery))

    def _apply_settled(self) -> None:
        """Perform the worker's settlements on this (the connection's) thread: each nack
        at once, the acks together (:func:`ack_plan`)."""
        acks: set[int] = set()
        channel = self._channel
        while True:
            try:
                item = self._settled.get_nowait()
            except queue.Empty:
                break
            if item.generation != self._generation or channel is None:
                continue   # delivered on an older connection: the broker redelivers it
            tag = item.delivery.delivery_tag
            if item.disposition.action in ("ack", "dead"):   # "dead": the copy is confirmed
                acks.add(tag)
            else:
                self._unsettled.pop(tag, None)
                channel.basic_nack(tag, requeue=True)
        if acks and channel is not None:
            upto, singles = ack_plan(self._unsettled, acks)
            if upto is not None:
                channel.basic_ack(upto, multiple=True)
            for tag in singles:
                channel.basic_ack(tag)
            for tag in acks:
                self._unsettled.pop(tag, None)

    def _notify(self, state: str) -> None:
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception as exc:  # a readiness hook must not kill the consumer
                log.warning("consumer_on_state_failed", error=type(exc).__name__)

    # -- worker thread ----------------------------------------------------

    def _work(self) -> None:
        try:
            self._work_loop()
        finally:
            self._dead.close()

    def _work_loop(self) -> None:
        while not self._exit.is_set():
            try:
                waiting = [self._deliveries.get(timeout=0.1)]
            except queue.Empty:
                self._dead.pump()
                continue
            while self._handle_many is not None and len(waiting) < BATCH:
                try:
                    waiting.append(self._deliveries.get_nowait())
                except queue.Empty:
                    break
            with self._lock:
                generation = self._generation
                # Others are left unacked: the broker redelivers them.
                batch = [] if self._draining else [d for g, d in waiting if g == generation]
                self._busy = bool(batch)
            del waiting
            if not batch:
                continue
            try:
                self._process_batch(generation, batch)
            except Exception as exc:   # a bug here must not silently kill the only worker
                log.error("consumer_worker_error", error=type(exc).__name__)
            finally:
                # Drop the bodies now: a large export must not stay alive while pika
                # assembles the next one (that would hold three bodies at once).
                del batch
                with self._lock:
                    self._busy = False

    def _process_batch(self, generation: int, batch: list[Delivery]) -> None:
        """``handle_many`` commits a prefix (acked together); the rest one by one."""
        done: list[Disposition] = []
        if self._handle_many is not None and len(batch) > 1:
            try:
                done = self._handle_many(batch)
            except Exception as exc:   # its deliveries go to ``handle``, which decides
                log.error("consumer_handler_crashed", error=type(exc).__name__)
                done = []
        if done:
            self._pause_attempt = 0
            self._post(*[_Settled(generation, d, disposition)
                         for d, disposition in zip(batch, done)])
        for index in range(len(done), len(batch)):
            with self._lock:
                if self._draining or generation != self._generation:
                    return   # the rest is left unacked: the broker redelivers it
            delivery, batch[index] = batch[index], _HANDLED
            self._process(generation, delivery)
            del delivery

    def _process(self, generation: int, delivery: Delivery) -> None:
        while True:
            if len(delivery.body) > self._settings.max_body_bytes:
                disposition = Disposition("dead", "body exceeds amqp.max_body_bytes")
            else:
                try:
                    disposition = self._handle(delivery)
                except Exception as exc:
                    log.error("consumer_handler_crashed", error=type(exc).__name__,
                              message_id=delivery.message_id)
                    self._post(_Settled(generation, delivery, Disposition("requeue")))
                    self._pause(generation, "handler_crashed")
                    return
            if disposition.action == "dead" and not self._dead_letter(delivery, disposition):
                self._post(_Settled(generation, delivery, Disposition("requeue")))
                self._pause(generation, "dead_letter_failed")
                return
            if disposition.action != "requeue":
                self._pause_attempt = 0
                self._post(_Settled(generation, delivery, disposition))
                return
            if self.stopping:
                return   # the handler gave way to a stop: left unacked, the broker redelivers
            # System fault: keep the delivery (not counted by the broker) and retry it.
            if not self._pause(generation, "requeue"):
                return   # stopping or connection lost: left unacked, the broker redelivers

    def _dead_letter(self, delivery: Delivery, disposition: Disposition) -> bool:
        """Publish the dead copy and wait for its confirm (on this, the worker's, thread);
        False when that failed (the original is then nacked with requeue)."""
        for attempt in (1, 2):
            try:
                self._dead.publish(delivery, disposition.reason)
                break
            except _CONNECT_ERRORS as exc:
                # Once more on a fresh connection: an idle one may have been dropped for
                # missed heartbeats while the worker was busy (not after a blocked timeout).
                if attempt == 1 and not isinstance(exc, pika.exceptions.ConnectionBlockedTimeout):
                    continue
                log.warning("dead_letter_failed", message_id=delivery.message_id,
                            error=type(exc).__name__)
                return False
        log.info("message_dead_lettered", message_id=delivery.message_id,
                 routing_key=delivery.routing_key)
        return True

    def _pause(self, generation: int, cause: str) -> bool:
        """Sleep a growing backoff; False when stopping or the connection changed meanwhile."""
        delay = backoff_delay(self._pause_attempt, base=self._pause_base,
                              cap=self._settings.reconnect_max_seconds)
        self._pause_attempt += 1
        log.warning("consumer_paused", cause=cause, seconds=round(delay, 2))
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if self._draining or self._exit.is_set() or generation != self._generation:
                return False
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
        return not (self._draining or generation != self._generation)

    def _post(self, *items: _Settled) -> None:
        for item in items:
            self._settled.put(item)
        conn = self._conn
        if conn is not None:
            try:
                conn.add_callback_threadsafe(self._apply_settled)
            except pika.exceptions.AMQPError:
                pass   # connection closing: the settlement is dropped, the broker redelivers


def ack_plan(unsettled: Iterable[int], acks: Collection[int]) -> tuple[int | None, list[int]]:
    """How to ack ``acks`` (delivery tags) on a channel whose unsettled deliveries are
    ``unsettled``, in delivery order: one ``basic_ack(upto, multiple=True)`` for the run
    of them that the oldest unsettled delivery starts (``upto`` is None when that one is
    not acked), and one ``basic_ack`` each for the rest (``singles``, in order).

    A multiple ack settles every delivery up to its tag, so it may only reach as far as
    every one of them is to be acked: a delivery still held (being handled, retried in
    place, or left for the broker at a stop) ends the run. A batch of the intake is
    acked with one frame instead of one per message: the broker's CPU per message fell
    from 0.05 to about 0.015 ms (docs/performance.md, round 13)."""
    upto: int | None = None
    for tag in unsettled:
        if tag not in acks:
            break
        upto = tag
    return upto, sorted(tag for tag in acks if upto is None or tag > upto)


def _drop_all(q: queue.Queue[tuple[int, Delivery]]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
