"""The test PKI's revocation service: the TSP CA's CRL and an OCSP responder over local HTTP.

For tests only (the CA key lives beside it, as in :mod:`adapter.pki.testpki`)::

    with TestRevocationServer(pki_dir) as server:
        issue_leaf(pki_dir, "x", ..., crl_url=server.crl_url, ocsp_url=server.ocsp_url)
        server.revoke(serial)      # the next CRL and OCSP answers list it
        server.unrevoke(serial)

Every ``GET /tsp.crl`` gets a freshly signed DER CRL (``thisUpdate`` now,
``nextUpdate`` now + ``next_update``); ``POST /ocsp`` answers an OCSP request for
the TSP CA's certificates, signed by the CA itself or, with ``delegate=True``, by
a responder certificate the CA issued with the OCSP-signing EKU. Faults for tests:
``available = False`` (HTTP 503), ``forge_crl``/``forge_ocsp`` (signed by a key that
is not the CA's), a negative ``next_update`` (a stale CRL).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _load_tsp(directory: Path) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate((directory / "ca" / "tsp.pem").read_bytes())
    key = serialization.load_pem_private_key((directory / "ca" / "tsp-key.pem").read_bytes(),
                                             None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the TSP CA key is not an RSA key")
    return cert, key


def _responder(ca: x509.Certificate,
               ca_key: rsa.RSAPrivateKey) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test OCSP")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


class TestRevocationServer:
    """Publishes the TSP CA's revocations of a test PKI in ``directory`` (see module doc)."""

    __test__ = False   # not a pytest test class

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", port: int = 0,
                 next_update: timedelta = timedelta(hours=1), delegate: bool = False) -> None:
        self.ca, self._ca_key = _load_tsp(Path(directory))
        self.next_update = next_update
        self.available = True
        self.forge_crl = False
        self.forge_ocsp = False
        self.hits = {"crl": 0, "ocsp": 0}
        self._revoked: dict[int, datetime] = {}
        self._lock = threading.Lock()
        self._delegate = _responder(self.ca, self._ca_key) if delegate else None
        self._forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name="test-revocation")
        base = f"http://{host}:{self._server.server_address[1]}"
        self.crl_url, self.ocsp_url = f"{base}/tsp.crl", f"{base}/ocsp"

    def revoke(self, serial: int) -> None:
        with self._lock:
            self._revoked.setdefault(serial, datetime.now(UTC) - timedelta(seconds=1))

    def unrevoke(self, serial: int) -> None:
        with self._lock:
            self._revoked.pop(serial, None)

    def crl(self) -> bytes:
        """A CRL listing the revoked serials now, DER (signed by the CA unless ``forge_crl``)."""
        now = datetime.now(UTC)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.ca.subject)
                   .last_update(now - timedelta(seconds=5)).next_update(now + self.next_update))
        with self._lock:
            revoked = dict(self._revoked)
        for serial, when in revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(when).build())
        key = self._forger if self.forge_crl else self._ca_key
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_answer(self, body: bytes) -> bytes:
        """The DER OCSP response to a DER OCSP request."""
        try:
            request = ocsp.load_der_ocsp_request(body)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(serialization.Encoding.DER)
        now = datetime.now(UTC)
        with self._lock:
            when = self._revoked.get(request.serial_number)
        status = ocsp.OCSPCertStatus.GOOD if when is None else ocsp.OCSPCertStatus.REVOKED
        signer_cert, signer_key = self._delegate or (self.ca, self._ca_key)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            request.issuer_name_hash, request.issuer_key_hash, request.serial_number,
            request.hash_algorithm, status, now - timedelta(seconds=5), now + self.next_update,
            when, None).responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
        if self._delegate is not None:
            builder = builder.certificates([signer_cert])
        key = self._forger if self.forge_ocsp else signer_key
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, data: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                outer.hits["crl"] += 1
                if not outer.available or self.path != "/tsp.crl":
                    self._send(503 if self.path == "/tsp.crl" else 404, b"", "text/plain")
                    return
                self._send(200, outer.crl(), "application/pkix-crl")

            def do_POST(self) -> None:
                outer.hits["ocsp"] += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not outer.available or self.path != "/ocsp":
                    self._send(503 if self.path == "/ocsp" else 404, b"", "text/plain")
                    return
                self._send(200, outer.ocsp_answer(body), "application/ocsp-response")

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
