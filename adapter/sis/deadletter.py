"""Copies of rejected deliveries to the dead exchange, with the reason in a header.

The copy keeps the body, routing key, ``message_id``, ``content_type``,
``timestamp`` and headers of the original and adds ``x-verzuim-reason`` (at
most 500 characters; it must name rules, never values) and
``x-verzuim-routing-key``. It is published persistent, ``mandatory`` and with
publisher confirms on a connection of its own (RabbitMQ recommends separate
publishing and consuming connections: a resource alarm blocks publishers).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from adapter.config import AmqpSettings
from adapter.sis.delivery import Delivery

__all__ = ["DeadLetter", "DeadLetterPublisher", "dead_letter_depth", "list_dead_letters",
           "quiet_pika", "replay_dead_letters"]

_REASON_MAX = 500


class DeadLetterPublisher:
    """Confirmed, mandatory publisher to the dead exchange.

    Owned by one thread (the consumer's worker thread, so a publish blocked by a
    resource alarm never holds up the consuming connection's heartbeats); connects
    lazily, and reconnects on the next publish after any failure.
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


# -- replay: dead letters back to the SIS exchange (``verzuim-adapter replay --state dead``) --

#: Headers the broker or the dead-letter publisher added; a replayed message is sent
#: without them, as the SIS sent it.
_ADDED_HEADERS = ("x-verzuim-reason", "x-verzuim-routing-key", "x-death", "x-first-death-queue",
                  "x-first-death-reason", "x-first-death-exchange", "x-last-death-queue",
                  "x-last-death-reason", "x-last-death-exchange", "x-delivery-count")


@dataclass(frozen=True)
class DeadLetter:
    """One message in the dead queue, described without its body (which holds personal data).

    ``reason`` is the adapter's ``x-verzuim-reason`` (rules, never values), or the
    broker's dead-letter reason (``delivery_limit`` for a poison message).
    """

    message_id: str | None
    routing_key: str
    reason: str
    content_type: str | None
    timestamp: int | None
    size: int


def _original_key(method: pika.spec.Basic.GetOk, headers: dict[str, Any]) -> str:
    key = headers.get("x-verzuim-routing-key")
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    return str(key) if key else str(method.routing_key)


def _reason(headers: dict[str, Any]) -> str:
    reason = headers.get("x-verzuim-reason") or headers.get("x-first-death-reason") or "-"
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    return str(reason)


def _describe(method: pika.spec.Basic.GetOk, props: pika.BasicProperties,
              body: bytes) -> DeadLetter:
    headers = dict(props.headers or {})
    return DeadLetter(message_id=props.message_id, routing_key=_original_key(method, headers),
                      reason=_reason(headers), content_type=props.content_type,
                      timestamp=props.timestamp, size=len(body))


@contextmanager
def quiet_pika() -> Iterator[None]:
    """pika logs a failed connect as several ERROR lines and a traceback; a one-shot
    command reports the failure itself, in one line, so pika stays quiet meanwhile."""
    logger = logging.getLogger("pika")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def dead_letter_depth(settings: AmqpSettings, params: pika.URLParameters) -> int:
    """Messages in ``settings.dead_queue`` (a passive declare); raises pika errors."""
    with quiet_pika():
        conn = BlockingConnection(params)
    try:
        frame = conn.channel().queue_declare(settings.dead_queue, passive=True)
        return int(frame.method.message_count)
    finally:
        if conn.is_open:
            conn.close()


def list_dead_letters(settings: AmqpSettings, params: pika.URLParameters, *,
                      limit: int = 1000) -> list[DeadLetter]:
    """The dead queue's messages, oldest first, left in place (fetched without ack;
    closing the channel gives them back in their order)."""
    with quiet_pika():
        conn = BlockingConnection(params)
    try:
        channel = conn.channel()
        depth = int(channel.queue_declare(settings.dead_queue, passive=True)
                    .method.message_count)
        out: list[DeadLetter] = []
        for _ in range(min(depth, limit)):
            method, props, body = channel.basic_get(settings.dead_queue, auto_ack=False)
            if method is None:
                break
            out.append(_describe(method, props, body))
        return out
    finally:
        if conn.is_open:
            conn.close()


def replay_dead_letters(settings: AmqpSettings, params: pika.URLParameters, *,
                        message_ids: set[str] | None = None,
                        limit: int = 1000) -> list[DeadLetter]:
    """Move dead letters (all, or those whose ``message_id`` is in ``message_ids``) back
    to ``settings.sis_exchange`` with their original routing key, ``message_id``,
    ``content_type``, ``timestamp`` and headers (the broker's and the adapter's own
    dead-letter headers removed); return what was moved.

    Each one is published persistent, ``mandatory`` and confirmed before its dead copy
    is acked, so a failure leaves it in the dead queue (at worst both: the inbox
    dedupes by ``message_id``). Only the messages queued when it starts are looked
    at: one that is dead-lettered again meanwhile stays for the next replay.
    """
    with quiet_pika():
        conn = BlockingConnection(params)
    moved: list[DeadLetter] = []
    try:
        channel = conn.channel()
        depth = int(channel.queue_declare(settings.dead_queue, passive=True)
                    .method.message_count)
        publisher = conn.channel()
        publisher.confirm_delivery()
        for _ in range(min(depth, limit)):
            method, props, body = channel.basic_get(settings.dead_queue, auto_ack=False)
            if method is None:
                break
            letter = _describe(method, props, body)
            if message_ids is not None and letter.message_id not in message_ids:
                continue   # left unacked: back in the dead queue when the channel closes
            headers = {k: v for k, v in dict(props.headers or {}).items()
                       if k not in _ADDED_HEADERS}
            original = pika.BasicProperties(
                message_id=props.message_id, content_type=props.content_type,
                timestamp=props.timestamp, headers=headers or None, delivery_mode=2,
                app_id=props.app_id)
            publisher.basic_publish(settings.sis_exchange, letter.routing_key, body, original,
                                    mandatory=True)
            channel.basic_ack(method.delivery_tag)
            moved.append(letter)
        return moved
    finally:
        if conn.is_open:
            try:
                conn.close()
            except pika.exceptions.AMQPError:
                pass
