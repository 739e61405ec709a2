"""``amqps://`` end to end: pika through a TLS listener that demands our client certificate.

RabbitMQ here listens in plain AMQP only, and reconfiguring the shared broker is
not an option, so a small TLS-terminating relay stands in for its TLS listener:
it requires a client certificate chained to the test PKI and forwards bytes to
127.0.0.1:5672. What is under test is our side: the SSL context, the CA bundle,
the client certificate and the hostname check.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pika
import pytest

from adapter.config import AmqpSettings
from adapter.pki.certs import read_oin
from adapter.pki.testpki import init_test_pki
from adapter.sis import connection_parameters, declare_topology, publish_export
from cryptography import x509

from .conftest import wait_for

SCHOOL_OIN = "00000099000000000042"


class TlsRelay:
    """Accepts TLS (client certificate required) and pipes bytes to the plain broker port."""

    def __init__(self, pki: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(pki / "duo.pem", pki / "duo-key.pem")
        self.ctx.load_verify_locations(pki / "trust-bundle.pem")
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.client_oins: list[str | None] = []
        self.handshake_failures = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                self.handshake_failures += 1
                raw.close()
                continue
            der = conn.getpeercert(binary_form=True)
            self.client_oins.append(read_oin(x509.load_der_x509_certificate(der)) if der else None)
            upstream = socket.create_connection(("127.0.0.1", 5672), timeout=10)
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture()
def pki(tmp_path: Path) -> Path:
    init_test_pki(tmp_path / "pki", school_oin=SCHOOL_OIN)
    return tmp_path / "pki"


@pytest.fixture()
def relay(pki: Path) -> Iterator[TlsRelay]:
    r = TlsRelay(pki)
    yield r
    r.close()


def tls_settings(amqp_vhost: str, port: int, pki: Path, *, host: str = "localhost",
                 client: bool = True) -> AmqpSettings:
    return AmqpSettings(
        url=f"amqps://guest:guest@{host}:{port}/{quote(amqp_vhost, safe='')}",
        ca_bundle=pki / "trust-bundle.pem",
        client_cert=pki / "school.pem" if client else None,
        client_key=pki / "school-key.pem" if client else None,
        connect_timeout=5, heartbeat=5)


def test_amqps_with_client_certificate_publishes_and_consumes(amqp_vhost: str, relay: TlsRelay,
                                                              pki: Path) -> None:
    settings = tls_settings(amqp_vhost, relay.port, pki)
    conn = pika.BlockingConnection(connection_parameters(settings))
    try:
        ch = conn.channel()
        declare_topology(ch, settings)
        publish_export(settings, body=b"{}", vendor="canonical", message_id="over-tls")
        method, props, _ = wait_for(lambda: (lambda r: r if r[0] else None)(
            ch.basic_get(settings.inbox_queue, auto_ack=True)))
        assert method is not None and props.message_id == "over-tls"
    finally:
        conn.close()
    assert SCHOOL_OIN in relay.client_oins


def test_amqps_without_client_certificate_is_refused(amqp_vhost: str, relay: TlsRelay,
                                                     pki: Path) -> None:
    settings = tls_settings(amqp_vhost, relay.port, pki, client=False)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(connection_parameters(settings))
    assert relay.client_oins == []


def test_amqps_checks_the_server_against_the_configured_bundle_only(
        amqp_vhost: str, relay: TlsRelay, pki: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    init_test_pki(other, school_oin=SCHOOL_OIN)  # a different CA with the same names
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "trust-bundle.pem"))
    settings = tls_settings(amqp_vhost, relay.port, pki).model_copy(
        update={"ca_bundle": other / "trust-bundle.pem"})
    # pika surfaces a failed verification as the ssl error itself
    with pytest.raises((pika.exceptions.AMQPConnectionError, ssl.SSLError)):
        pika.BlockingConnection(connection_parameters(settings))
