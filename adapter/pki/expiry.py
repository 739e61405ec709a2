"""Expiry warnings for the certificates in use, at most once a day each.

The daemon calls :meth:`ExpiryMonitor.check` every
``duo.certificate_check_interval`` seconds for each certificate in use (TLS and,
when different, signing). Pure apart from logging; ``now`` is injectable.

Events (documented in docs/operations.md and docs/certificates.md):

- ``certificate_expiry_warning`` (warning): ``days_left`` ≤ the largest
  threshold; carries ``days_left``, ``threshold`` (the smallest threshold
  still ≥ days_left, i.e. the tightest one crossed), ``not_after``, ``subject``
  and ``fingerprint``; at most once per UTC calendar day per certificate;
- ``certificate_expired`` (error): the certificate has expired; once per UTC
  day per certificate.

A not-yet-valid certificate is reported in the returned state only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from adapter.pki.certs import days_left as _days_left
from adapter.pki.chain import describe
from adapter.pki.identity import Identity

log = structlog.get_logger(__name__)

DEFAULT_THRESHOLDS = (60, 30, 14, 7)


@dataclass(frozen=True)
class ExpiryState:
    """Where a certificate stands at ``now``: whole days left (negative once expired)."""

    days_left: int
    expired: bool
    not_yet_valid: bool


class ExpiryMonitor:
    """Logs expiry warnings at the configured thresholds, once a day per certificate.

    Thread-safe; keeps one "last logged" date per (certificate, event).
    """

    def __init__(self, thresholds: Iterable[int] = DEFAULT_THRESHOLDS) -> None:
        self.thresholds = tuple(sorted({int(t) for t in thresholds}))
        if any(t < 0 for t in self.thresholds):
            raise ValueError("expiry thresholds must be ≥ 0 days")
        self._logged: dict[tuple[bytes, str], date] = {}
        self._lock = threading.Lock()

    def _once_today(self, fingerprint: bytes, event: str, today: date) -> bool:
        with self._lock:
            if self._logged.get((fingerprint, event)) == today:
                return False
            self._logged[(fingerprint, event)] = today
            return True

    def check(self, identity_or_cert: Identity | x509.Certificate,
              now: datetime | None = None) -> ExpiryState:
        """Return the certificate's state and log the warning/error due today, if any."""
        cert = (identity_or_cert.certificate if isinstance(identity_or_cert, Identity)
                else identity_or_cert)
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        days = _days_left(cert, now)
        state = ExpiryState(days_left=days, expired=now > cert.not_valid_after_utc,
                            not_yet_valid=now < cert.not_valid_before_utc)
        fingerprint = cert.fingerprint(hashes.SHA256())
        context = {"not_after": cert.not_valid_after_utc.isoformat(),
                   "subject": describe(cert.subject), "fingerprint": fingerprint.hex()[:16]}
        today = now.astimezone(UTC).date()
        if state.expired:
            if self._once_today(fingerprint, "expired", today):
                log.error("certificate_expired", days_left=days, **context)
            return state
        crossed = [t for t in self.thresholds if days <= t]
        if crossed and self._once_today(fingerprint, "warning", today):
            log.warning("certificate_expiry_warning", days_left=days, threshold=crossed[0],
                        **context)
        return state
