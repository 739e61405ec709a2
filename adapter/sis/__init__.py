"""The RabbitMQ side: topology, the inbox consumer and the outbox relay (pika 1.4).

Public surface (everything else in this package is private)::

    Delivery, Disposition                        (adapter.sis.delivery: no pika)
    connection_parameters(settings, *, name=None) -> pika.URLParameters
    redact_url(url) -> str
    declare_topology(channel, settings) -> None
    Consumer(settings, handle, *, on_state=None, pause_base=1.0)
    OutboxRelay(settings, fetch, mark_published, render, *, window=100, idle_wait=0.5,
                probe=None)
    publish_export(settings, *, body, vendor, kind="export", message_id=None,
                   content_type=None, headers=None, declare=False) -> str
    declare_event_tap(channel, settings, queue_name, *, routing_key="#") -> str

The names that need pika are imported on first use, so describing a delivery
(``from adapter.sis.delivery import Delivery``) never loads pika.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from adapter.sis.delivery import Delivery, Disposition

if TYPE_CHECKING:  # the same names, typed, for checkers
    from adapter.sis.connection import connection_parameters, redact_url
    from adapter.sis.consumer import Consumer
    from adapter.sis.export import declare_event_tap, publish_export
    from adapter.sis.publisher import OutboxRelay
    from adapter.sis.topology import declare_topology

_LAZY = {
    "Consumer": "adapter.sis.consumer",
    "OutboxRelay": "adapter.sis.publisher",
    "connection_parameters": "adapter.sis.connection",
    "redact_url": "adapter.sis.connection",
    "declare_event_tap": "adapter.sis.export",
    "publish_export": "adapter.sis.export",
    "declare_topology": "adapter.sis.topology",
}

__all__ = [
    "Consumer", "Delivery", "Disposition", "OutboxRelay", "connection_parameters",
    "declare_event_tap", "declare_topology", "publish_export", "redact_url",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'adapter.sis' has no attribute {name!r}")
    return getattr(import_module(module), name)
