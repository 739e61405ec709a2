"""``cert check``: is the configured certificate usable for DUO today?

Exit codes: 0 usable, 10 expired, 11 not yet valid, 12 OIN missing or different
from ``school.oin``, 13 chain incomplete, 14 key file unsafe or unreadable.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509

from adapter.config import Settings
from adapter.errors import ConfigError
from adapter.pki.certs import check_key_permissions, load_pem_chain, read_oin

EXPIRED, NOT_YET_VALID, OIN_MISMATCH, CHAIN_INCOMPLETE, KEY_UNSAFE = 10, 11, 12, 13, 14


def _chain_problem(leaf: x509.Certificate, bundle: list[x509.Certificate]) -> str | None:
    """Walk issuer names from the leaf to a self-signed root; name the first missing link."""
    by_subject = {c.subject: c for c in bundle}
    current, seen = leaf, 0
    while current.issuer != current.subject:
        issuer = by_subject.get(current.issuer)
        if issuer is None:
            return f"no certificate for issuer '{current.issuer.rfc4514_string()}' in the trust bundle"
        current, seen = issuer, seen + 1
        if seen > 10:
            return "issuer chain does not end in a root"
    return None


def check_certificate(settings: Settings, now: datetime | None = None) -> tuple[str, int]:
    """Return a human report and the exit code for the configured client certificate."""
    now = now or datetime.now(UTC)
    chain = load_pem_chain(settings.duo.client_cert)
    leaf = chain[0]
    bundle = [*load_pem_chain(settings.duo.ca_bundle), *chain[1:]]
    oin = read_oin(leaf)
    days = (leaf.not_valid_after_utc - now).days
    lines = [
        f"certificate: {settings.duo.client_cert}",
        f"subject:     {leaf.subject.rfc4514_string()}",
        f"OIN:         {oin or '(none)'}",
        f"issuer:      {leaf.issuer.rfc4514_string()}",
        f"not before:  {leaf.not_valid_before_utc.isoformat()}",
        f"not after:   {leaf.not_valid_after_utc.isoformat()}",
        f"days left:   {days}",
    ]
    code, verdict = 0, "usable"
    problem = _chain_problem(leaf, bundle)
    try:
        check_key_permissions(settings.duo.client_key)
    except ConfigError as exc:
        code, verdict = KEY_UNSAFE, str(exc)
    if problem:
        code, verdict = CHAIN_INCOMPLETE, f"chain incomplete: {problem}"
    if oin != settings.school.oin:
        code, verdict = OIN_MISMATCH, ("certificate has no OIN in its subject serialNumber"
                                       if oin is None else
                                       f"OIN mismatch: certificate {oin}, configured {settings.school.oin}")
    if now < leaf.not_valid_before_utc:
        code, verdict = NOT_YET_VALID, "not yet valid"
    if now > leaf.not_valid_after_utc:
        code, verdict = EXPIRED, "expired"
    lines.append(f"verdict:     {verdict}")
    return "\n".join(lines), code
