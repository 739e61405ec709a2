"""One-shot publishing of SIS exports, and a tap on the adapter's events.

:func:`publish_export` is what the ``verzuim-adapter publish`` command and the
tests use to play the SIS; :func:`declare_event_tap` lets the demo and tests
read what the adapter tells the SIS.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pika
import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from adapter.config import AmqpSettings
from adapter.errors import TransientError
from adapter.sis.connection import connection_parameters, redact_url
from adapter.sis.topology import declare_topology

log = structlog.get_logger(__name__)

__all__ = ["declare_event_tap", "publish_export"]


def publish_export(settings: AmqpSettings, *, body: bytes, vendor: str, kind: str = "export",
                   message_id: str | None = None, content_type: str | None = None,
                   headers: dict[str, Any] | None = None, declare: bool = False) -> str:
    """Publish one export to ``settings.sis_exchange`` as ``<vendor>.<kind>``; return its message_id.

    Persistent, ``mandatory``, confirmed. With ``declare=True`` (and
    ``settings.declare_topology``) the topology is declared first, so the
    message is queued even before the daemon ever ran. Raises
    :class:`TransientError` when the broker is unreachable, the message is
    unroutable (no queue bound) or nacked, or the exchange does not exist.
    """
    message_id = message_id or str(uuid.uuid4())
    routing_key = f"{vendor}.{kind}"
    props = pika.BasicProperties(
        delivery_mode=2, message_id=message_id, content_type=content_type,
        timestamp=int(time.time()), headers=dict(headers) if headers else None,
        app_id="verzuim-adapter")
    try:
        conn = BlockingConnection(connection_parameters(settings, name="verzuim-adapter publish"))
    except pika.exceptions.AMQPError as exc:
        raise TransientError(f"RabbitMQ not reachable at {redact_url(settings.url)} "
                             f"({type(exc).__name__})") from exc
    try:
        channel = conn.channel()
        if declare:
            declare_topology(channel, settings)
        channel.confirm_delivery()
        channel.basic_publish(settings.sis_exchange, routing_key, body, props, mandatory=True)
    except pika.exceptions.UnroutableError as exc:
        raise TransientError(f"unroutable: no queue bound to exchange {settings.sis_exchange!r} "
                             f"for routing key {routing_key!r}") from exc
    except pika.exceptions.NackError as exc:
        raise TransientError(f"the broker refused (nacked) the message to {settings.sis_exchange!r}") from exc
    except pika.exceptions.ChannelClosedByBroker as exc:
        raise TransientError(f"publishing to {settings.sis_exchange!r} failed: broker closed the "
                             f"channel ({exc.reply_code} {exc.reply_text})") from exc
    except pika.exceptions.AMQPError as exc:
        raise TransientError(f"publishing to {settings.sis_exchange!r} failed ({type(exc).__name__})") from exc
    finally:
        if conn.is_open:
            try:
                conn.close()
            except pika.exceptions.AMQPError:
                pass
    log.info("export_published", vendor=vendor, kind=kind, message_id=message_id, bytes=len(body))
    return message_id


def declare_event_tap(channel: BlockingChannel, settings: AmqpSettings, queue_name: str, *,
                      routing_key: str = "#") -> str:
    """Declare a durable queue ``queue_name`` bound to the adapter exchange; return its name.

    For the demo and tests that read the events published to the SIS. The
    adapter exchange is declared too (passively when ``declare_topology`` is off).
    """
    channel.exchange_declare(settings.adapter_exchange, exchange_type="topic", durable=True,
                             passive=not settings.declare_topology)
    channel.queue_declare(queue_name, durable=True)
    channel.queue_bind(queue_name, settings.adapter_exchange, routing_key=routing_key)
    return queue_name
