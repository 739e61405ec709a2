"""Topology declaration against the real broker."""

from __future__ import annotations

import pika
import pytest

from adapter.errors import ConfigError, TransientError
from adapter.sis import declare_topology, publish_export

from .conftest import wait_for

pytestmark = pytest.mark.broker


def test_topology_is_idempotent_and_routes(broker) -> None:
    settings = broker.settings
    channel = broker.channel()
    declare_topology(channel, settings)
    declare_topology(channel, settings)          # a second declare is a no-op
    publish_export(settings, body=b"{}", vendor="eduarte")
    publish_export(settings, body=b"{}", vendor="magister", kind="single")
    assert broker.ready(settings.inbox_queue, 2) == 2   # bound to verzuim.sis with '#'

    # The dead exchange is a fanout into the dead queue, whatever the routing key.
    channel.confirm_delivery()
    channel.basic_publish(settings.dead_exchange, "any.key", b"x", mandatory=True)
    assert broker.ready(settings.dead_queue, 1) == 1
    channel.exchange_declare(settings.adapter_exchange, passive=True)
    # (rabbitmqctl's message counts for quorum queues lag ~5 s; the names do not.)
    assert set(broker.queues()) == {settings.inbox_queue, settings.dead_queue}


def test_passive_mode_checks_without_declaring(broker) -> None:
    settings = broker.settings
    passive = settings.model_copy(update={"declare_topology": False})
    with pytest.raises(ConfigError, match="does not exist"):
        declare_topology(broker.channel(), passive)
    assert broker.queues() == {}                 # nothing was created
    declare_topology(broker.channel(), settings)
    declare_topology(broker.channel(), passive)  # now everything is there


def test_inequivalent_arguments_are_a_config_error(broker) -> None:
    declare_topology(broker.channel(), broker.settings)
    changed = broker.settings.model_copy(update={"delivery_limit": 9})
    with pytest.raises(ConfigError, match="different arguments"):
        declare_topology(broker.channel(), changed)


def test_publish_export_reports_unroutable_and_missing_exchange(broker) -> None:
    settings = broker.settings
    with pytest.raises(TransientError, match="channel"):
        publish_export(settings, body=b"{}", vendor="eduarte")      # no exchange yet
    channel = broker.channel()
    channel.exchange_declare(settings.sis_exchange, exchange_type="topic", durable=True)
    with pytest.raises(TransientError, match="unroutable"):
        publish_export(settings, body=b"{}", vendor="eduarte")      # no queue bound
    message_id = publish_export(settings, body=b"{}", vendor="eduarte", declare=True,
                                content_type="application/json", headers={"x-vendor": "eduarte"})
    method, props, body = wait_for(lambda: (lambda r: r if r[0] else None)(
        channel.basic_get(settings.inbox_queue, auto_ack=True)))
    assert isinstance(method, pika.spec.Basic.GetOk)
    assert (method.routing_key, props.message_id, body) == ("eduarte.export", message_id, b"{}")
    assert props.delivery_mode == 2 and props.headers["x-vendor"] == "eduarte"
    assert props.content_type == "application/json" and props.timestamp
