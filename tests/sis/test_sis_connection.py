"""Connection parameters and credential redaction."""

from __future__ import annotations

import os
import ssl
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapter.config import AmqpSettings
from adapter.errors import ConfigError
from adapter.sis import Consumer, Disposition, OutboxRelay, connection_parameters, redact_url


@pytest.mark.parametrize(("url", "expected"), [
    ("amqp://guest:s3cret@127.0.0.1:5672/%2F", "amqp://guest:***@127.0.0.1:5672/%2F"),
    ("amqps://svc:p%40ss:w@mq.school.nl/verzuim?heartbeat=5",
     "amqps://svc:***@mq.school.nl/verzuim?heartbeat=5"),
    ("amqp://user@host/vh", "amqp://user@host/vh"),
    ("amqp://host:5672/", "amqp://host:5672/"),
    ("amqp://:onlypass@host/", "amqp://:***@host/"),
])
def test_redact_url_removes_the_password(url: str, expected: str) -> None:
    redacted = redact_url(url)
    assert redacted == expected
    assert "s3cret" not in redacted and "p%40ss" not in redacted and "onlypass" not in redacted


def test_parameters_take_timeouts_from_settings() -> None:
    settings = AmqpSettings(url="amqp://u:p@10.0.0.1:5673/v%2Fh?heartbeat=99", heartbeat=7,
                            blocked_connection_timeout=12.5, connect_timeout=3.0)
    params = connection_parameters(settings, name="unit")
    assert (params.host, params.port, params.virtual_host) == ("10.0.0.1", 5673, "v/h")
    assert params.heartbeat == 7            # settings win over the URL's query
    assert params.blocked_connection_timeout == 12.5
    assert params.socket_timeout == 3.0 and params.stack_timeout == 6.0
    assert params.connection_attempts == 1
    assert params.ssl_options is None
    assert params.client_properties["connection_name"] == "unit"


def test_amqps_uses_a_strict_tls_context() -> None:
    bundle = os.environ.get("SSL_CERT_FILE")
    if not bundle or not Path(bundle).is_file():
        pytest.skip("SSL_CERT_FILE not set on this machine")
    settings = AmqpSettings(url="amqps://u:p@mq.example.nl/vh", ca_bundle=Path(bundle))
    params = connection_parameters(settings)
    assert params.port == 5671
    context = params.ssl_options.context
    assert params.ssl_options.server_hostname == "mq.example.nl"
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_unreadable_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    settings = AmqpSettings(url="amqps://u:p@mq.example.nl/vh", ca_bundle=tmp_path / "none.pem")
    with pytest.raises(ConfigError, match="amqp.ca_bundle"):
        connection_parameters(settings)


def test_connection_failures_are_logged_once_without_the_password() -> None:
    # Port 1 on loopback refuses at once: no broker needed.
    settings = AmqpSettings(url="amqp://guest:s3cret-pw@127.0.0.1:1/%2F",
                            reconnect_max_seconds=0.2, connect_timeout=1.0)
    stop = threading.Event()
    consumer = Consumer(settings, lambda d: Disposition("ack"))
    with capture_logs() as logs:
        thread = threading.Thread(target=consumer.run, args=(stop,))
        thread.start()
        threading.Event().wait(1.0)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    failures = [e for e in logs if e["event"] == "amqp_connect_failed"]
    warnings = [e for e in failures if e["log_level"] == "warning"]
    assert len(failures) >= 2, "the consumer should keep retrying"
    assert len(warnings) == 1, "only the first failure of a streak is a warning"
    assert warnings[0]["url"] == "amqp://guest:***@127.0.0.1:1/%2F"
    assert "s3cret-pw" not in repr(logs)


def test_relay_stops_promptly_while_the_broker_is_unreachable() -> None:
    settings = AmqpSettings(url="amqp://guest:guest@127.0.0.1:1/%2F", reconnect_max_seconds=5.0)
    relay = OutboxRelay(settings, lambda n: [], lambda ids: None, lambda e: (b"", "x"))
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    threading.Event().wait(0.7)
    started = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 1.0
