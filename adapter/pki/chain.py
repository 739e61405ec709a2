"""Issuer chain: leaf → intermediates → root, each link's signature verified.

PKIoverheid Private Services chains are not Web PKI, so we do not use
``cryptography.x509.verification`` (unstable, Web PKI rules). Instead a small
path builder: starting from the leaf, find a certificate whose subject is the
issuer name *and* whose key verifies the signature (``verify_directly_issued_by``),
among the intermediates that came with our certificate and the trust bundle;
stop at a self-signed certificate, which must be in the trust bundle. The
first missing or bad link is named. Revocation (CRL/OCSP) is :mod:`adapter.pki.revocation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

_MAX_DEPTH = 8
_NAMES = {NameOID.SERIAL_NUMBER: "serialNumber"}


def describe(name: x509.Name) -> str:
    """RFC 4514 text of a name, with ``serialNumber`` spelled out (not ``2.5.4.5``)."""
    return name.rfc4514_string(_NAMES)


@dataclass(frozen=True)
class ChainResult:
    """The path found (leaf first; up to the root when complete) and the first problem."""

    path: tuple[x509.Certificate, ...]
    problem: str | None

    @property
    def complete(self) -> bool:
        return self.problem is None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)   # name match + signature
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def build_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                trusted: Sequence[x509.Certificate], *, bundle_name: str,
                now: datetime | None = None) -> ChainResult:
    """Build and verify the path from ``leaf`` to a root in ``trusted``.

    ``intermediates`` are the extra certificates from the certificate file,
    ``trusted`` the trust bundle (roots and intermediates), ``bundle_name``
    how the bundle is named in messages (its path). CA certificates on the
    path must be CAs and valid at ``now``; the leaf's own dates are the
    caller's business.
    """
    now = now or datetime.now(UTC)
    trusted_set = set(trusted)
    pool = [*intermediates, *trusted]
    path = [leaf]
    current = leaf
    for _ in range(_MAX_DEPTH):
        if current.issuer == current.subject and _issued_by(current, current):
            if current in trusted_set:
                return ChainResult(tuple(path), None)
            return ChainResult(tuple(path), f"root '{describe(current.subject)}' is not in "
                                            f"{bundle_name}")
        named = [c for c in pool if c.subject == current.issuer and c != current]
        if not named:
            return ChainResult(tuple(path), (
                f"no issuer certificate for '{describe(current.subject)}' (issuer "
                f"'{describe(current.issuer)}') in {bundle_name} or the certificate file"))
        issuer = next((c for c in named if _issued_by(current, c)), None)
        if issuer is None:
            return ChainResult(tuple(path), (
                f"'{describe(current.subject)}' is not signed by the certificate named "
                f"'{describe(current.issuer)}' in {bundle_name} (signature check failed)"))
        if not _is_ca(issuer):
            return ChainResult(tuple(path), f"issuer '{describe(issuer.subject)}' is not a CA")
        if now > issuer.not_valid_after_utc or now < issuer.not_valid_before_utc:
            return ChainResult(tuple(path), (
                f"CA certificate '{describe(issuer.subject)}' is not valid now "
                f"(valid {issuer.not_valid_before_utc:%Y-%m-%d} to "
                f"{issuer.not_valid_after_utc:%Y-%m-%d})"))
        path.append(issuer)
        if issuer in trusted_set and issuer.issuer == issuer.subject:
            return ChainResult(tuple(path), None)
        current = issuer
    return ChainResult(tuple(path), f"issuer chain is longer than {_MAX_DEPTH} certificates")
