"""Certificate guard: the DUO credentials are valid at start, stay valid, and reload.

- :meth:`CertificateGuard.load_checked` refuses to start with a certificate that
  ``cert check`` would call unusable (:func:`adapter.pki.check.usability_problems`):
  expired or not yet valid, an OIN other than ``settings.certificate_oin``, or no
  chain to a root in ``duo.ca_bundle``.
- :meth:`CertificateGuard.run` re-reads the certificate files every
  ``duo.certificate_check_interval`` seconds: warnings at ``duo.expiry_warning_days``
  (once a day, by :class:`~adapter.pki.expiry.ExpiryMonitor`), and when the
  certificate in use or the one on disk has expired, submissions are held
  (``on_unusable``), never rejected or dead-lettered.
- revocation (``[revocation]``, :mod:`adapter.pki.watch`): a revoked certificate
  of ours is refused like an expired one (at start, on reload, and while in use);
  DUO's server certificate is checked at the first periodic check and then every
  ``revocation.interval`` seconds. A revoked one holds submissions with a reason
  naming it; when a later check finds none revoked, ``on_usable`` ends that hold.
- :meth:`CertificateGuard.reload` (SIGHUP) loads and checks the files again and,
  when they are usable, hands the new credentials to ``on_reloaded``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import structlog
from cryptography import x509

from adapter.config import Settings
from adapter.errors import AdapterError, ConfigError
from adapter.pki.certs import load_pem_chain
from adapter.pki.check import usability_problems
from adapter.pki.expiry import ExpiryMonitor
from adapter.pki.identity import Credentials, Identity, load_credentials
from adapter.pki.watch import RevocationWatch

log = structlog.get_logger(__name__)


def problem_with(identity: Identity, trusted: Sequence[x509.Certificate], *, expected_oin: str,
                 now: datetime, bundle_name: str) -> str | None:
    """Why ``identity`` cannot be used to talk to DUO now (the ``cert check`` rules:
    dates, OIN, chain to the trust bundle), or None. One line, no key material."""
    problems = usability_problems(identity.certificate, identity.chain[1:], trusted,
                                  expected_oin=expected_oin, now=now, bundle_name=bundle_name)
    return f"certificate {identity.source}: {problems[0][1]}" if problems else None


class CertificateGuard:
    """Start-up check, periodic expiry check and reload of the DUO credentials."""

    def __init__(self, settings: Settings, environ: Mapping[str, str], *,
                 on_unusable: Callable[[str], None] = lambda reason: None,
                 on_reloaded: Callable[[Credentials], None] = lambda creds: None,
                 on_usable: Callable[[], None] = lambda: None,
                 revocation: RevocationWatch | None = None) -> None:
        self._settings = settings
        self._environ = dict(environ)
        self._on_unusable = on_unusable
        self._on_reloaded = on_reloaded
        self._on_usable = on_usable
        self.revocation = revocation or RevocationWatch(settings)
        self.revoked: str | None = None          # the revocation problem last found
        self._next_revocation_check = 0.0        # time.monotonic(); 0: at the next check
        self._monitor = ExpiryMonitor(settings.duo.expiry_warning_days)
        self.credentials: Credentials | None = None
        self.days_left: dict[str, int] = {}
        self._wake = threading.Event()

    def _identities(self, creds: Credentials) -> dict[str, Identity]:
        return {"tls": creds.tls, "signing": creds.signing}

    def load_checked(self, now: datetime | None = None) -> Credentials:
        """Load the configured credentials; ConfigError (one line) when unusable."""
        now = now or datetime.now(UTC)
        creds = load_credentials(self._settings.duo, environ=self._environ)
        trusted = load_pem_chain(self._settings.duo.ca_bundle)
        for identity in self._identities(creds).values():
            problem = self._problem(identity, trusted, now)
            if problem:
                raise ConfigError(problem)
        revoked = self.revocation.own_problem(creds, trusted, now)
        if revoked:
            raise ConfigError(revoked)
        self.credentials = creds
        self._record(creds, now)
        return creds

    def _problem(self, identity: Identity, trusted: Sequence[x509.Certificate],
                 now: datetime) -> str | None:
        return problem_with(identity, trusted, expected_oin=self._settings.certificate_oin,
                            now=now, bundle_name=str(self._settings.duo.ca_bundle))

    def _record(self, creds: Credentials, now: datetime) -> bool:
        """Update days-left and log warnings; True when a certificate in use has expired."""
        expired = False
        for use, identity in self._identities(creds).items():
            state = self._monitor.check(identity.certificate, now=now)
            self.days_left[use] = state.days_left
            expired = expired or state.expired or state.not_yet_valid
        return expired

    def check(self, now: datetime | None = None) -> str | None:
        """One periodic check; returns the reason submissions must be held, or None."""
        now = now or datetime.now(UTC)
        reason = None
        if self.credentials is not None and self._record(self.credentials, now):
            reason = "certificate_expired"
        try:
            on_disk = load_credentials(self._settings.duo, environ=self._environ)
            trusted = load_pem_chain(self._settings.duo.ca_bundle)
        except AdapterError as exc:
            log.error("certificate_unreadable", error=str(exc))
            reason = reason or "certificate_unreadable"
        else:
            for identity in self._identities(on_disk).values():
                problem = self._problem(identity, trusted, now)
                if problem:
                    log.error("certificate_on_disk_unusable", problem=problem)
                    reason = reason or "certificate_on_disk_unusable"
        was = self.revoked
        reason = reason or self._check_revocation(now)
        if reason:
            self._on_unusable(reason)
        elif was:   # held for a revocation that is gone, and nothing else is wrong
            log.info("revocation_cleared", after=was)
            self._on_usable()
        return reason

    def _check_revocation(self, now: datetime) -> str | None:
        """The revocation problem of the certificates in use (checked when due), or None."""
        if self.credentials is None or time.monotonic() < self._next_revocation_check:
            return self.revoked
        self._next_revocation_check = time.monotonic() + self._settings.revocation.interval
        try:
            trusted = load_pem_chain(self._settings.duo.ca_bundle)
        except AdapterError:
            return self.revoked      # logged by check() as certificate_unreadable
        self.revoked = (self.revocation.own_problem(self.credentials, trusted, now)
                        or self.revocation.server_problem(self.credentials, trusted, now))
        return self.revoked

    def reload(self) -> bool:
        """Load the files again (SIGHUP); on success hand them over and return True."""
        try:
            creds = self.load_checked()
        except AdapterError as exc:
            log.error("certificate_reload_failed", error=str(exc))
            return False
        log.info("certificate_reloaded", days_left=dict(self.days_left))
        self.revoked = None
        self._next_revocation_check = 0.0     # DUO's certificate again at the next check
        self._on_reloaded(creds)
        return True

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Check every ``duo.certificate_check_interval`` (or ``revocation.interval``, when
        shorter and checks are on) seconds, the first time right away, until ``stop``."""
        interval = self._settings.duo.certificate_check_interval
        if self._settings.revocation.check:
            interval = min(interval, self._settings.revocation.interval)
        while not stop.is_set():
            self.check()
            self._wake.wait(interval)
            self._wake.clear()
