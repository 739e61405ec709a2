"""Connection parameters for RabbitMQ, and URL redaction for logs.

Everything network-related comes from :class:`adapter.config.AmqpSettings`:
the settings win over query arguments in the URL (``?heartbeat=…``), so one
place decides timeouts. ``amqps://`` URLs get our own :class:`ssl.SSLContext`
(TLS 1.2 or newer, hostname check on, CA bundle and optional client
certificate from the settings); pika's default context is never used.

Credentials must never reach a log line: log :func:`redact_url` of the URL,
never the URL itself.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit, urlunsplit

import pika

from adapter.config import AmqpSettings
from adapter.errors import ConfigError

__all__ = ["connection_parameters", "redact_url", "tls_context"]


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (user, host and vhost kept).

    Never raises: an unparsable URL is reduced to its scheme.
    """
    try:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        scheme = url.split("://", 1)[0] if "://" in url else "amqp"
        return f"{scheme}://***"


def tls_context(settings: AmqpSettings) -> ssl.SSLContext:
    """An SSL context for ``amqps://``: TLS ≥ 1.2, certificate and hostname verified.

    The CA bundle is ``settings.ca_bundle`` when set, otherwise the system
    store (``SSL_CERT_FILE`` is honoured by OpenSSL). A client certificate is
    loaded when ``client_cert`` is set (``client_key`` may be omitted when the
    certificate file also holds the key). Raises :class:`ConfigError` naming
    the setting when a file cannot be read (never its content).
    """
    try:
        if settings.ca_bundle is not None:
            context = ssl.create_default_context(cafile=str(settings.ca_bundle))
        else:
            context = ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"amqp.ca_bundle cannot be loaded ({type(exc).__name__})") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if settings.client_cert is not None:
        key = str(settings.client_key) if settings.client_key is not None else None
        try:
            context.load_cert_chain(str(settings.client_cert), key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"amqp.client_cert/client_key cannot be loaded ({type(exc).__name__})"
            ) from exc
    elif settings.client_key is not None:
        raise ConfigError("amqp.client_key is set without amqp.client_cert")
    return context


def connection_parameters(settings: AmqpSettings, *, name: str | None = None) -> pika.URLParameters:
    """Build pika parameters from ``settings``.

    Heartbeat, blocked-connection timeout and connect timeouts come from the
    settings; ``connection_attempts`` is 1 because the callers reconnect
    themselves with backoff. ``name`` shows up as ``connection_name`` in
    ``rabbitmqctl list_connections client_properties``.
    """
    try:
        params = pika.URLParameters(settings.url)
    except ValueError as exc:
        # pika's message may quote the URL; say which key is wrong, not what it holds.
        raise ConfigError("amqp.url is not a valid AMQP URL") from exc
    params.heartbeat = settings.heartbeat
    params.blocked_connection_timeout = settings.blocked_connection_timeout
    params.socket_timeout = settings.connect_timeout
    # stack_timeout bounds the whole opening (TCP + TLS + AMQP handshake).
    params.stack_timeout = settings.connect_timeout * 2
    params.connection_attempts = 1
    params.retry_delay = 0
    if settings.url.startswith("amqps://"):
        params.ssl_options = pika.SSLOptions(tls_context(settings), server_hostname=params.host)
    if name is not None:
        params.client_properties = {"connection_name": name, "product": "verzuim-adapter"}
    return params


