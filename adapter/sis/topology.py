"""The RabbitMQ topology of product-design §5.2, declared idempotently.

::

    verzuim.sis (topic) ──#──▶ verzuim.adapter.inbox (quorum)
                                   │ x-dead-letter-exchange, x-delivery-limit
                                   ▼
    verzuim.dead (fanout) ──────▶ verzuim.adapter.dead (quorum)
    verzuim.adapter (topic)       events for the SIS: <vendor>.<brin>.<event>

Choices (queue arguments must be identical on every redeclare, or the broker
closes the channel with 406 PRECONDITION_FAILED, so they are fixed here):

- The inbox is a quorum queue with ``x-dead-letter-strategy: at-least-once``
  (RabbitMQ ≥ 3.10; it requires ``x-overflow: reject-publish``), so messages
  that pass ``x-delivery-limit`` are moved to the dead queue and not dropped
  when the dead queue is briefly unavailable.
- The dead queue is a **quorum** queue too: what it holds must be inspected by
  a person and replayed, so it gets the same replication and durability as
  the inbox; nothing consumes it in a hot loop, so quorum's cost is irrelevant.

When ``settings.declare_topology`` is false (the SIS vendor owns the
topology), only passive checks run; a missing object raises
:class:`adapter.errors.ConfigError` naming it (the channel is then closed by
the broker, so the caller must open a new one).
"""

from __future__ import annotations

from typing import Any

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from adapter.config import AmqpSettings
from adapter.errors import ConfigError

__all__ = ["declare_topology", "dead_queue_arguments", "inbox_arguments"]


def inbox_arguments(settings: AmqpSettings) -> dict[str, Any]:
    """The inbox queue's arguments (exposed so operators' definitions can match them)."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": settings.dead_exchange,
        "x-delivery-limit": settings.delivery_limit,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def dead_queue_arguments(settings: AmqpSettings) -> dict[str, Any]:
    """The dead queue's arguments."""
    return {"x-queue-type": "quorum"}


def declare_topology(channel: BlockingChannel, settings: AmqpSettings) -> None:
    """Declare (or, with ``declare_topology`` off, passively check) the whole topology.

    Safe to call any number of times with the same settings. Raises
    :class:`ConfigError` when a passive check finds an object missing, or when
    an existing queue was declared with different arguments (406).
    """
    if not settings.declare_topology:
        _check_passive(channel, settings)
        return
    try:
        channel.exchange_declare(settings.sis_exchange, exchange_type="topic", durable=True)
        channel.exchange_declare(settings.dead_exchange, exchange_type="fanout", durable=True)
        channel.exchange_declare(settings.adapter_exchange, exchange_type="topic", durable=True)
        channel.queue_declare(settings.dead_queue, durable=True,
                              arguments=dead_queue_arguments(settings))
        channel.queue_bind(settings.dead_queue, settings.dead_exchange, routing_key="")
        channel.queue_declare(settings.inbox_queue, durable=True,
                              arguments=inbox_arguments(settings))
        channel.queue_bind(settings.inbox_queue, settings.sis_exchange, routing_key="#")
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 406:
            raise ConfigError(
                "RabbitMQ topology exists with different arguments (406); align the existing "
                "exchanges/queues with amqp.* settings or set amqp.declare_topology = false"
            ) from exc
        raise


def _check_passive(channel: BlockingChannel, settings: AmqpSettings) -> None:
    checks: list[tuple[str, str]] = [
        ("exchange", settings.sis_exchange),
        ("exchange", settings.dead_exchange),
        ("exchange", settings.adapter_exchange),
        ("queue", settings.inbox_queue),
    ]
    for kind, name in checks:
        try:
            if kind == "exchange":
                channel.exchange_declare(name, passive=True)
            else:
                channel.queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                raise ConfigError(
                    f"RabbitMQ {kind} {name!r} does not exist and amqp.declare_topology is false"
                ) from exc
            raise
