"""The RabbitMQ side: topology, the inbox consumer and the outbox relay (pika 1.4).

Public surface (everything else in this package is private)::

    connection_parameters(settings, *, name=None) -> pika.URLParameters
    redact_url(url) -> str
    declare_topology(channel, settings) -> None
    Delivery, Disposition, Consumer(settings, handle, *, on_state=None, pause_base=1.0)
    OutboxRelay(settings, fetch, mark_published, render, *, window=100, idle_wait=0.5)
    publish_export(settings, *, body, vendor, kind="export", message_id=None,
                   content_type=None, headers=None, declare=False) -> str
    declare_event_tap(channel, settings, queue_name, *, routing_key="#") -> str
"""

from adapter.sis.connection import connection_parameters, redact_url
from adapter.sis.consumer import Consumer, Delivery, Disposition
from adapter.sis.export import declare_event_tap, publish_export
from adapter.sis.publisher import OutboxRelay
from adapter.sis.topology import declare_topology

__all__ = [
    "Consumer",
    "Delivery",
    "Disposition",
    "OutboxRelay",
    "connection_parameters",
    "declare_event_tap",
    "declare_topology",
    "publish_export",
    "redact_url",
]
