"""Is a certificate in use revoked? Ours (TLS and signing) and DUO's server certificate.

Used by :class:`~adapter.pki.guard.CertificateGuard`; the answers come from
:class:`~adapter.pki.revocation.RevocationChecker` (``[revocation]``).

- Our certificates: the issuer is the next link of the chain built from the
  certificate file and ``duo.ca_bundle`` (:func:`adapter.pki.chain.build_chain`).
- DUO's server certificate is the one DUO presents now: a TLS handshake with
  ``duo.url``'s host and port (our trust bundle, our client certificate, hostname
  checked, ``duo.connect_timeout``), nothing sent. Its issuer comes from
  ``duo.ca_bundle`` plus the intermediates in ``duo.signature_cert``. When the
  handshake fails, the submitter meets the same fault on its own; the watch logs
  ``duo_server_certificate_unavailable`` (warning, once until it succeeds
  again) and reports no revocation problem.

A problem is one line naming the certificate (role, serial in hex, CN) and the
source that said so, e.g. ``DUO server certificate serial 1A2B (CN=localhost) is
revoked (CRL of Test TSP PKIoverheid Private Services CA - G1)``. ``unknown`` is a
problem only with ``revocation.soft_fail`` off; ``unchecked`` never is.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import structlog
from cryptography import x509

from adapter.config import Settings
from adapter.duo.transport import build_ssl_context
from adapter.errors import AdapterError
from adapter.pki.certs import load_pem_chain
from adapter.pki.chain import build_chain
from adapter.pki.identity import Credentials, Identity
from adapter.pki.revocation import RevocationChecker, common_name

log = structlog.get_logger(__name__)


def server_certificate(settings: Settings, identity: Identity) -> x509.Certificate:
    """The leaf certificate DUO's endpoint presents now (see the module contract).

    Raises OSError (ssl.SSLError included) when the handshake fails.
    """
    url = urlsplit(settings.duo.url)
    host, port = url.hostname or "", url.port or 443
    context = build_ssl_context(settings.duo, identity)
    with socket.create_connection((host, port), timeout=settings.duo.connect_timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return x509.load_der_x509_certificate(der)


class RevocationWatch:
    """Revocation problems of the certificates in use (see the module contract)."""

    def __init__(self, settings: Settings, checker: RevocationChecker | None = None) -> None:
        self._settings = settings
        self._checker = checker or RevocationChecker(settings.revocation)
        self._server_down = False
        self._reported: set[str] = set()

    def _problem(self, what: str, cert: x509.Certificate, issuer: x509.Certificate | None,
                 now: datetime) -> str | None:
        label = f"{what} serial {cert.serial_number:X} (CN={common_name(cert.subject)})"
        if issuer is None:
            return None     # no chain: the usability check names that problem
        verdict = self._checker.check(cert, issuer, now=now)
        if verdict.status == "revoked":
            if label not in self._reported:   # once per certificate, not every check
                log.error("certificate_revoked", certificate=label, source=verdict.source)
                self._reported.add(label)
            return f"{label} is revoked ({verdict.source})"
        if verdict.status == "unknown" and not self._settings.revocation.soft_fail:
            return (f"{label}: revocation status unknown (no CRL or OCSP answer, "
                    "revocation.soft_fail is off)")
        return None

    def _issuer(self, leaf: x509.Certificate, extra: Sequence[x509.Certificate],
                trusted: Sequence[x509.Certificate], now: datetime) -> x509.Certificate | None:
        path = build_chain(leaf, extra, trusted, bundle_name=str(self._settings.duo.ca_bundle),
                           now=now).path
        return path[1] if len(path) > 1 else None

    def own_problem(self, creds: Credentials, trusted: Sequence[x509.Certificate],
                    now: datetime | None = None) -> str | None:
        """The first of our certificates (TLS, then signing) that is revoked, or None."""
        if not self._settings.revocation.check:
            return None
        now = now or datetime.now(UTC)
        uses = {"TLS": creds.tls} if creds.signing is creds.tls else {
            "TLS": creds.tls, "signing": creds.signing}
        for use, identity in uses.items():
            issuer = self._issuer(identity.certificate, identity.chain[1:], trusted, now)
            problem = self._problem(f"our {use} certificate {identity.source}",
                                    identity.certificate, issuer, now)
            if problem:
                return problem
        return None

    def server_problem(self, creds: Credentials, trusted: Sequence[x509.Certificate],
                       now: datetime | None = None) -> str | None:
        """Whether the certificate DUO's endpoint presents now is revoked (or None)."""
        if not self._settings.revocation.check:
            return None
        now = now or datetime.now(UTC)
        try:
            leaf = server_certificate(self._settings, creds.tls)
        except (OSError, AdapterError) as exc:
            if not self._server_down:
                log.warning("duo_server_certificate_unavailable", problem=type(exc).__name__)
            self._server_down = True
            return None
        self._server_down = False
        try:
            extra = load_pem_chain(self._settings.duo.signature_cert)[1:]
        except AdapterError:
            extra = []
        return self._problem("DUO server certificate", leaf,
                             self._issuer(leaf, extra, trusted, now), now)
