"""A small threaded WSGI server, optionally with two-way TLS.

Why not werkzeug's dev server: it wraps the *listening* socket, so every TLS
handshake runs in the accept loop and one silent client stalls everyone. Here
the handshake runs in the connection's own thread, with a timeout, and a
refused handshake (no client certificate, untrusted chain, expired) closes only
that connection. The peer certificate reaches the app as
``environ["SSL_CLIENT_CERT_DER"]`` (bytes) and ``environ["SSL_CLIENT_CERT"]`` (PEM).
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import ssl
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import structlog

from adapter.errors import ConfigError

log = structlog.get_logger(__name__)

HANDSHAKE_TIMEOUT = 5.0
IO_TIMEOUT = 120.0


class _Handler(WSGIRequestHandler):
    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        getpeercert = getattr(self.connection, "getpeercert", None)
        if getpeercert is not None:
            der = getpeercert(binary_form=True)
            if der:
                env["SSL_CLIENT_CERT_DER"] = der
                env["SSL_CLIENT_CERT"] = ssl.DER_cert_to_PEM_cert(der)
            env["wsgi.url_scheme"] = "https"
            env["HTTPS"] = "on"
        return env

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002
        pass    # request lines are not logged (paths may carry ids; the app logs events)

    def get_stderr(self) -> Any:
        return _EventSink()


class _EventSink:
    """wsgiref writes tracebacks (e.g. a client gone after commit_then_hang) to
    ``wsgi.errors``; we log one event instead, without the text."""

    def write(self, text: str) -> int:
        if text.startswith("Traceback"):
            log.info("simulator_wsgi_error")
        return len(text)

    def flush(self) -> None:
        pass

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)


class ThreadedWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """Thread per connection; TLS handshake inside that thread when ``ssl_context`` is set."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: Callable[..., Any],
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)
        self.set_app(app)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            request.settimeout(IO_TIMEOUT)
            self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]  # typeshed: Self
            return
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("simulator_tls_refused", reason=getattr(exc, "reason", None)
                     or type(exc).__name__)
            request.close()
            return
        try:
            tls.settimeout(IO_TIMEOUT)
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]  # typeshed: Self
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.info("simulator_connection_error")   # no traceback spam for resets


def require_loopback(host: str) -> None:
    """Refuse a bind address that is not loopback (every address ``host`` resolves to)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ConfigError(f"control host {host!r} cannot be resolved") from exc
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback
                                for a in addresses):
        raise ConfigError(f"control API must bind to a loopback address, not {host!r}")


def server_context(cert: str, key: str, trust: str) -> ssl.SSLContext:
    """Server side of two-way TLS: TLS ≥ 1.2, client certificate required and verified."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=cert, keyfile=key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=trust)
    return ctx
