"""Copies of rejected deliveries to the dead exchange, with the reason in a header.

The copy keeps the body, routing key, ``message_id``, ``content_type``,
``timestamp`` and headers of the original and adds ``x-verzuim-reason`` (at
most 500 characters; it must name rules, never values) and
``x-verzuim-routing-key``. It is published persistent, ``mandatory`` and with
publisher confirms on a connection of its own (RabbitMQ recommends separate
publishing and consuming connections: a resource alarm blocks publishers).
"""

from __future__ import annotations

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from adapter.config import AmqpSettings
from adapter.sis.delivery import Delivery

__all__ = ["DeadLetterPublisher"]

_REASON_MAX = 500


class DeadLetterPublisher:
    """Confirmed, mandatory publisher to the dead exchange.

    Owned by one thread (the consumer's I/O thread); connects lazily, and
    reconnects on the next publish after any failure.
    """

    def __init__(self, settings: AmqpSettings, params: pika.URLParameters) -> None:
        self._settings = settings
        self._params = params
        self._conn: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def publish(self, delivery: Delivery, reason: str | None) -> None:
        """Publish and wait for the broker's confirm; raises pika errors on failure."""
        if self._conn is None or self._conn.is_closed or self._channel is None \
                or self._channel.is_closed:
            self.close()
            self._conn = BlockingConnection(self._params)
            self._channel = self._conn.channel()
            self._channel.confirm_delivery()
        headers = dict(delivery.headers)
        headers["x-verzuim-reason"] = (reason or "unspecified")[:_REASON_MAX]
        headers["x-verzuim-routing-key"] = delivery.routing_key
        props = pika.BasicProperties(
            message_id=delivery.message_id, content_type=delivery.content_type,
            timestamp=delivery.timestamp, headers=headers, delivery_mode=2)
        try:
            self._channel.basic_publish(self._settings.dead_exchange, delivery.routing_key,
                                        delivery.body, props, mandatory=True)
        except BaseException:
            self.close()
            raise

    def pump(self) -> None:
        """Service heartbeats of an idle connection; drop it if it died."""
        if self._conn is not None and self._conn.is_open:
            try:
                self._conn.process_data_events(time_limit=0)
            except pika.exceptions.AMQPError:
                self.close()

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except pika.exceptions.AMQPError:
                pass
