"""``cert check``: are the configured certificates usable for DUO today?

Checks the TLS certificate (``duo.client_cert``/``client_key``) and, when
``duo.signing_cert`` is set, the signing certificate: the key loads (passphrase,
file mode, key matches), validity dates, the OIN against
``Settings.certificate_oin`` (``duo.sender_oin`` or ``school.oin``), and the
issuer chain up to a root in ``duo.ca_bundle`` with every signature verified.

Exit codes (the first that applies, in this order of precedence):
0 usable, 10 expired, 11 not yet valid, 12 OIN missing or different,
13 chain incomplete, 14 key unsafe/unreadable/passphrase wrong/not matching.
A missing or unreadable certificate file or trust bundle is a ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from adapter.config import Settings
from adapter.errors import ConfigError
from adapter.pki.certs import days_left, load_pem_chain, read_oin
from adapter.pki.chain import ChainResult, build_chain, describe
from adapter.pki.identity import is_pkcs12, load_identity, read_bytes, read_passphrase

USABLE, EXPIRED, NOT_YET_VALID, OIN_MISMATCH, CHAIN_INCOMPLETE, KEY_UNSAFE = 0, 10, 11, 12, 13, 14
_PRECEDENCE = (EXPIRED, NOT_YET_VALID, OIN_MISMATCH, CHAIN_INCOMPLETE, KEY_UNSAFE)


@dataclass(frozen=True)
class CertificateReport:
    """What ``cert check`` found for one certificate (``role``: "TLS" or "signing")."""

    role: str
    source: Path
    subject: str | None = None
    oin: str | None = None
    issuers: tuple[str, ...] = ()
    not_before: datetime | None = None
    not_after: datetime | None = None
    days_left: int | None = None
    problems: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class CheckReport:
    """All certificates checked, and the resulting exit code."""

    certificates: tuple[CertificateReport, ...]
    expected_oin: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def problems(self) -> tuple[tuple[int, str], ...]:
        return tuple(p for c in self.certificates for p in c.problems)

    @property
    def exit_code(self) -> int:
        codes = {code for code, _ in self.problems}
        return next((c for c in _PRECEDENCE if c in codes), USABLE)

    def render(self) -> str:
        lines: list[str] = []
        for c in self.certificates:
            lines += [f"{c.role} certificate: {c.source}",
                      f"  subject:     {c.subject or '(unreadable)'}",
                      f"  OIN:         {c.oin or '(none)'} (expected {self.expected_oin})"]
            for i, issuer in enumerate(c.issuers):
                lines.append(f"  {'issuers:' if i == 0 else '':<13}{issuer}")
            if c.not_before is not None and c.not_after is not None:
                lines += [f"  not before:  {c.not_before.isoformat()}",
                          f"  not after:   {c.not_after.isoformat()}",
                          f"  days left:   {c.days_left}"]
            for code, message in c.problems:
                lines.append(f"  problem ({code}): {message}")
        lines += [f"warning: {w}" for w in self.warnings]
        code = self.exit_code
        lines.append("verdict: usable" if code == USABLE else f"verdict: NOT usable (exit {code})")
        return "\n".join(lines)


def _check_one(role: str, cert_path: Path, key_path: Path | None, passphrase: bytes | None,
               passphrase_error: str | None, trusted: list[x509.Certificate], bundle: Path,
               expected_oin: str, now: datetime) -> CertificateReport:
    problems: list[tuple[int, str]] = []
    chain: list[x509.Certificate] = []
    if passphrase_error:
        problems.append((KEY_UNSAFE, passphrase_error))
    else:
        try:
            chain = list(load_identity(cert_path, key_path, passphrase).chain)
        except ConfigError as exc:
            problems.append((KEY_UNSAFE, str(exc)))
    if not chain and not is_pkcs12(cert_path, read_bytes(cert_path, "certificate file")):
        chain = load_pem_chain(cert_path)   # still show the certificate; errors propagate
    if not chain:   # a PKCS#12 file we could not open: nothing more to say
        return CertificateReport(role=role, source=cert_path, problems=tuple(problems))
    leaf = chain[0]
    found, result = _leaf_problems(leaf, chain[1:], trusted, expected_oin=expected_oin,
                                   now=now, bundle_name=str(bundle))
    return CertificateReport(
        role=role, source=cert_path, subject=describe(leaf.subject), oin=read_oin(leaf),
        issuers=tuple(describe(c.subject) for c in result.path[1:]) or (describe(leaf.issuer),),
        not_before=leaf.not_valid_before_utc, not_after=leaf.not_valid_after_utc,
        days_left=days_left(leaf, now), problems=(*problems, *found))


def usability_problems(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                       trusted: Sequence[x509.Certificate], *, expected_oin: str,
                       now: datetime, bundle_name: str) -> list[tuple[int, str]]:
    """Why ``leaf`` cannot be used to talk to DUO at ``now``, as ``(exit code, message)``.

    The one usability check of the adapter: ``cert check`` reports it and the
    daemon's :class:`~adapter.pki.guard.CertificateGuard` refuses to start, or holds
    submissions, on it. Validity dates, the OIN against ``expected_oin``, and the
    issuer chain through ``intermediates`` up to a root in ``trusted`` (the trust
    bundle, named ``bundle_name`` in messages). Empty: usable. Messages name dates,
    OINs and certificate subjects, never key material.
    """
    return _leaf_problems(leaf, intermediates, trusted, expected_oin=expected_oin, now=now,
                          bundle_name=bundle_name)[0]


def _leaf_problems(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                   trusted: Sequence[x509.Certificate], *, expected_oin: str, now: datetime,
                   bundle_name: str) -> tuple[list[tuple[int, str]], ChainResult]:
    problems: list[tuple[int, str]] = []
    oin = read_oin(leaf)
    if now > leaf.not_valid_after_utc:
        problems.append((EXPIRED, f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"))
    if now < leaf.not_valid_before_utc:
        problems.append((NOT_YET_VALID, f"not valid before "
                                        f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"))
    if oin is None:
        problems.append((OIN_MISMATCH, "the certificate has no OIN (subject serialNumber)"))
    elif oin != expected_oin:
        problems.append((OIN_MISMATCH, f"OIN mismatch: the certificate carries {oin}, the "
                                       f"configuration expects {expected_oin}"))
    result = build_chain(leaf, intermediates, trusted, bundle_name=bundle_name, now=now)
    if result.problem:
        problems.append((CHAIN_INCOMPLETE, f"chain incomplete: {result.problem}"))
    return problems, result


def check_certificate(settings: Settings, *, environ: Mapping[str, str],
                      now: datetime | None = None) -> CheckReport:
    """Check the TLS certificate and (when configured) the signing certificate.

    ``environ`` supplies the passphrase variable (``duo.key_passphrase_env``).
    Raises ConfigError only when a certificate file or the trust bundle cannot
    be read at all; every other problem is in the report.
    """
    now = now or datetime.now(UTC)
    duo = settings.duo
    trusted = load_pem_chain(duo.ca_bundle)
    passphrase, passphrase_error = None, None
    try:
        passphrase = read_passphrase(duo, environ)
    except ConfigError as exc:
        passphrase_error = str(exc)
    expected = settings.certificate_oin
    reports = [_check_one("TLS", duo.client_cert, duo.client_key, passphrase, passphrase_error,
                          trusted, duo.ca_bundle, expected, now)]
    if duo.signing_cert is not None:
        reports.append(_check_one("signing", duo.signing_cert, duo.signing_key, passphrase,
                                  passphrase_error, trusted, duo.ca_bundle, expected, now))
    warn_days = max(duo.expiry_warning_days, default=0)
    warnings = tuple(f"the {r.role} certificate expires in {r.days_left} days; order its "
                     "successor now (docs/certificates.md)"
                     for r in reports if r.days_left is not None and 0 <= r.days_left <= warn_days)
    return CheckReport(certificates=tuple(reports), expected_oin=expected, warnings=warnings)
