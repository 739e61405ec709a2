"""The daemon's certificate guard uses the very check ``cert check`` reports."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapter.config import Settings, load_settings
from adapter.errors import ConfigError
from adapter.pki.certs import load_pem_chain
from adapter.pki.check import check_certificate
from adapter.pki.guard import CertificateGuard
from adapter.pki.testpki import issue_leaf

from .conftest import OIN


@pytest.fixture(scope="module")
def now(pki: Path) -> datetime:
    """An instant inside the test CAs' validity; every certificate is issued around it
    and every check is made at it (never at the wall clock)."""
    chain = [*load_pem_chain(pki / "school.pem"), *load_pem_chain(pki / "trust-bundle.pem")]
    return max(c.not_valid_before_utc for c in chain) + timedelta(days=2)


def settings_for(pki: Path, cert: Path, key: Path) -> Settings:
    return load_settings(None, overrides={
        "school": {"brin": "00AA", "oin": OIN},
        "duo": {"ca_bundle": str(pki / "trust-bundle.pem"), "client_cert": str(cert),
                "client_key": str(key), "signature_cert": str(pki / "duo.pem")}})


@pytest.mark.parametrize(("name", "issue", "problem"), [
    ("guard-ok", dict(oin=OIN), None),
    ("guard-expired", dict(oin=OIN, not_after=timedelta(days=-1)), "expired"),
    ("guard-early", dict(oin=OIN, not_before=timedelta(days=1)), "not valid before"),
    ("guard-other-oin", dict(oin="00000099000000000077"), "OIN mismatch"),
    ("guard-no-oin", dict(oin=None), "no OIN"),
    # The check the daemon skipped before: a certificate from outside the trust bundle.
    ("guard-foreign", dict(oin=OIN, foreign=True), "chain incomplete"),
])
def test_guard_refuses_exactly_what_cert_check_calls_unusable(
        pki: Path, now: datetime, name: str, issue: dict,  # type: ignore[type-arg]
        problem: str | None) -> None:
    validity = {"not_before": timedelta(days=-1), "not_after": timedelta(days=300), **issue}
    cert, key = issue_leaf(pki, name, **{k: now + v if isinstance(v, timedelta) else v
                                         for k, v in validity.items()})
    settings = settings_for(pki, cert, key)
    report = check_certificate(settings, environ={}, now=now)
    guard = CertificateGuard(settings, {})
    if problem is None:
        assert report.exit_code == 0
        credentials = guard.load_checked(now=now)
        assert credentials.tls.source == report.certificates[0].source == cert
        return
    assert report.exit_code != 0
    with pytest.raises(ConfigError, match=problem) as info:
        guard.load_checked(now=now)
    assert str(cert) in str(info.value) and "\n" not in str(info.value)


def test_periodic_check_holds_when_the_file_on_disk_loses_its_chain(pki: Path,
                                                                   now: datetime) -> None:
    cert, key = issue_leaf(pki, "guard-swap", oin=OIN, not_before=now - timedelta(days=1),
                           not_after=now + timedelta(days=300))
    held: list[str] = []
    guard = CertificateGuard(settings_for(pki, cert, key), {}, on_unusable=held.append)
    guard.load_checked(now=now)
    assert guard.check(now=now) is None and held == []
    foreign, foreign_key = issue_leaf(pki, "guard-swap-foreign", oin=OIN, foreign=True,
                                      not_before=now - timedelta(days=1),
                                      not_after=now + timedelta(days=300))
    cert.write_bytes(foreign.read_bytes())
    key.write_bytes(foreign_key.read_bytes())
    assert guard.check(now=now) == "certificate_on_disk_unusable"
    assert held == ["certificate_on_disk_unusable"]
