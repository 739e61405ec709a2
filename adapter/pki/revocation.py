"""Revocation status of a certificate: OCSP where it names a responder, else its CRL.

Contract of :meth:`RevocationChecker.check` (certificate + the CA that issued it):

- ``unchecked`` when the certificate names neither an ``http(s)`` CRL
  distribution point nor (with ``revocation.ocsp``) an OCSP responder;
- OCSP first: a request for this serial is POSTed to each responder; the answer
  counts only when it is for this issuer and serial, signed by the issuer or by
  a delegated responder the issuer issued with the OCSP-signing EKU, and not
  past its ``nextUpdate``. ``good`` or ``revoked`` is final; anything else falls
  through to the CRL;
- CRL: fetched from each distribution point in turn (DER or PEM); accepted only
  when its issuer name is the issuer's, its signature verifies with the issuer's
  key and its ``nextUpdate`` has not passed. It is cached per URL and fetched
  again when its ``nextUpdate`` passes or ``revocation.interval`` seconds after
  the last fetch;
- policy when no source answers now (unreachable, refused, stale): the last good
  answer is kept (an older CRL, the last OCSP answer) when ``revocation.soft_fail``
  is on (then also past its ``nextUpdate``), else only while it is current; with
  no such answer the status is ``unknown``. What ``unknown`` means (hold or go
  on) is the caller's decision (:mod:`adapter.pki.guard`).

Every fetch has the explicit ``revocation.timeout``; the HTTP session ignores the
environment (``trust_env`` off: no proxy or CA variables). Log events carry URLs,
serials and subjects only: ``revocation_source_unreachable`` (warning, once per
source until it answers again), ``revocation_source_invalid`` (error, a CRL or
OCSP answer refused) and ``revocation_source_recovered``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import requests
import structlog
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)

from adapter.config import RevocationSettings

log = structlog.get_logger(__name__)

Status = Literal["good", "revoked", "unknown", "unchecked"]


@dataclass(frozen=True)
class Verdict:
    """A certificate's revocation status and where it came from (e.g. ``CRL of <CN>``)."""

    status: Status
    source: str = ""


class SourceError(Exception):
    """A CRL or OCSP answer that could not be fetched or was refused (message: why)."""


def common_name(name: x509.Name) -> str:
    """The CN of ``name`` (its RFC 4514 text when it has none)."""
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else name.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The http(s) URLs of the certificate's CRL distribution points, in order."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [name.value for point in points for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier)
            and name.value.lower().startswith(("http://", "https://"))]


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The http(s) OCSP responder URLs in the certificate's authority information access."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
            and d.access_location.value.lower().startswith(("http://", "https://"))]


def _verify(key: object, signature: bytes, data: bytes,
            algorithm: hashes.HashAlgorithm | None) -> None:
    """Verify an RSA (PKCS#1 v1.5) or ECDSA signature; InvalidSignature otherwise."""
    if algorithm is None:
        raise InvalidSignature("no hash algorithm")
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise InvalidSignature("unsupported key type")


def _parse_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise SourceError("not a CRL") from exc


@dataclass
class _Cached:
    crl: x509.CertificateRevocationList
    fetched: datetime


class RevocationChecker:
    """Answers good/revoked/unknown/unchecked for a certificate (see the module contract).

    Thread-safe; one instance keeps its caches for the life of the daemon.
    """

    def __init__(self, settings: RevocationSettings,
                 session: requests.Session | None = None) -> None:
        self._settings = settings
        self._session = session or requests.Session()
        self._session.trust_env = False
        self._crls: dict[str, _Cached] = {}
        self._ocsp: dict[tuple[str, int], tuple[Verdict, datetime | None]] = {}
        self._down: set[str] = set()
        self._lock = threading.Lock()

    def check(self, cert: x509.Certificate, issuer: x509.Certificate,
              now: datetime | None = None) -> Verdict:
        """The revocation status of ``cert`` (issued by ``issuer``) at ``now``."""
        now = now or datetime.now(UTC)
        crls = crl_urls(cert)
        responders = ocsp_urls(cert) if self._settings.ocsp else []
        if not crls and not responders:
            return Verdict("unchecked")
        with self._lock:
            for url in responders:
                verdict = self._ocsp_status(url, cert, issuer, now)
                if verdict.status in ("good", "revoked"):
                    return verdict
            for url in crls:
                crl = self._crl(url, issuer, now)
                if crl is not None:
                    revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
                    status: Status = "good" if revoked is None else "revoked"
                    return Verdict(status, f"CRL of {common_name(issuer.subject)}")
        return Verdict("unknown")

    def _usable(self, next_update: datetime | None, now: datetime) -> bool:
        return self._settings.soft_fail or next_update is None or now < next_update

    def _failed(self, url: str, exc: Exception) -> None:
        """Log a source's failure once, until it answers properly again."""
        if url in self._down:
            return
        self._down.add(url)
        if str(exc).startswith("refused"):
            log.error("revocation_source_invalid", url=url, problem=str(exc))
        else:
            log.warning("revocation_source_unreachable", url=url, problem=str(exc),
                        soft_fail=self._settings.soft_fail)

    def _answered(self, url: str) -> None:
        if url in self._down:
            self._down.discard(url)
            log.info("revocation_source_recovered", url=url)

    def _get(self, url: str, *, body: bytes | None = None) -> bytes:
        try:
            if body is None:
                resp = self._session.get(url, timeout=self._settings.timeout)
            else:
                resp = self._session.post(url, data=body, timeout=self._settings.timeout,
                                          headers={"Content-Type": "application/ocsp-request"})
        except requests.RequestException as exc:
            raise SourceError(type(exc).__name__) from exc
        if resp.status_code != 200:
            raise SourceError(f"HTTP {resp.status_code}")
        return resp.content

    def _crl(self, url: str, issuer: x509.Certificate,
             now: datetime) -> x509.CertificateRevocationList | None:
        cached = self._crls.get(url)
        interval = timedelta(seconds=self._settings.interval)
        if cached is not None and cached.crl.next_update_utc is not None and \
                now < cached.crl.next_update_utc and now < cached.fetched + interval:
            return cached.crl
        try:
            crl = _parse_crl(self._get(url))
            if crl.issuer != issuer.subject:
                raise SourceError(f"refused: CRL issuer is not {common_name(issuer.subject)}")
            try:
                _verify(issuer.public_key(), crl.signature, crl.tbs_certlist_bytes,
                        crl.signature_hash_algorithm)
            except InvalidSignature:
                raise SourceError("refused: CRL signature does not verify with the issuer's "
                                  "key") from None
            if crl.next_update_utc is not None and now >= crl.next_update_utc:
                raise SourceError(f"refused: CRL is stale (nextUpdate "
                                  f"{crl.next_update_utc:%Y-%m-%dT%H:%M:%SZ})")
        except SourceError as exc:
            self._failed(url, exc)
            if cached is not None and self._usable(cached.crl.next_update_utc, now):
                return cached.crl
            return None
        self._answered(url)
        self._crls[url] = _Cached(crl, now)
        return crl

    def _ocsp_status(self, url: str, cert: x509.Certificate, issuer: x509.Certificate,
                     now: datetime) -> Verdict:
        key = (url, cert.serial_number)
        cached = self._ocsp.get(key)
        try:
            verdict, next_update = self._ask(url, cert, issuer, now)
        except SourceError as exc:
            self._failed(url, exc)
            if cached is not None and self._usable(cached[1], now):
                return cached[0]
            return Verdict("unknown")
        self._answered(url)
        self._ocsp[key] = (verdict, next_update)
        return verdict

    def _ask(self, url: str, cert: x509.Certificate, issuer: x509.Certificate,
             now: datetime) -> tuple[Verdict, datetime | None]:
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        body = self._get(url, body=request.public_bytes(serialization.Encoding.DER))
        try:
            answer = ocsp.load_der_ocsp_response(body)
            if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
                raise SourceError(f"refused: OCSP status {answer.response_status.name}")
            if answer.serial_number != cert.serial_number or \
                    answer.issuer_key_hash != request.issuer_key_hash:
                raise SourceError("refused: OCSP answer is for another certificate")
        except ValueError as exc:      # not OCSP, or more than one answer in it
            raise SourceError("refused: not a single OCSP response") from exc
        signer = _responder(answer, issuer, now)
        try:
            _verify(signer.public_key(), answer.signature, answer.tbs_response_bytes,
                    answer.signature_hash_algorithm)
        except InvalidSignature:
            raise SourceError("refused: OCSP signature does not verify") from None
        if answer.next_update_utc is not None and now >= answer.next_update_utc:
            raise SourceError("refused: OCSP answer is stale")
        statuses: dict[ocsp.OCSPCertStatus, Status] = {
            ocsp.OCSPCertStatus.GOOD: "good", ocsp.OCSPCertStatus.REVOKED: "revoked"}
        status = statuses.get(answer.certificate_status, "unknown")
        return Verdict(status, f"OCSP of {common_name(issuer.subject)}"), answer.next_update_utc


def _responder(answer: ocsp.OCSPResponse, issuer: x509.Certificate,
               now: datetime) -> x509.Certificate:
    """The certificate whose key signed ``answer``: a delegate the issuer issued with the
    OCSP-signing EKU, valid at ``now``, when the answer carries one, else the issuer."""
    for candidate in answer.certificates:
        if not candidate.not_valid_before_utc <= now <= candidate.not_valid_after_utc:
            continue
        try:
            candidate.verify_directly_issued_by(issuer)
            eku = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in eku:
            return candidate
    if answer.certificates and issuer not in answer.certificates:
        raise SourceError("refused: OCSP responder is not authorised by the issuer")
    return issuer
