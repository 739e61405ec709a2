"""The daemon's certificate guard uses the very check ``cert check`` reports."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapter.config import Settings, load_settings
from adapter.errors import ConfigError
from adapter.pki.certs import load_pem_chain
from adapter.pki.check import check_certificate
from adapter.pki.guard import CertificateGuard
from adapter.pki.testpki import issue_leaf
from adapter.pki.testrevocation import TestRevocationServer

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


def revocation_settings(pki: Path, cert: Path, key: Path, **revocation: object) -> Settings:
    """Settings for ``cert`` with revocation checks due at every check; DUO's URL is a
    closed port (its server certificate cannot be read: logged, not held)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return load_settings(None, overrides={
        "school": {"brin": "00AA", "oin": OIN},
        "duo": {"url": f"https://127.0.0.1:{port}/verzuim", "connect_timeout": 1.0,
                "ca_bundle": str(pki / "trust-bundle.pem"), "client_cert": str(cert),
                "client_key": str(key), "signature_cert": str(pki / "duo.pem")},
        "revocation": {"interval": 0.001, "timeout": 2.0, **revocation}})


def test_our_revoked_certificate_is_refused_held_and_released(pki: Path) -> None:
    now = datetime.now(UTC)
    with TestRevocationServer(pki) as crl:
        cert, key = issue_leaf(pki, "guard-revoked", oin=OIN, not_before=now - timedelta(days=1),
                               not_after=now + timedelta(days=30), crl_url=crl.crl_url)
        serial = load_pem_chain(cert)[0].serial_number
        held: list[str] = []
        usable: list[bool] = []
        guard = CertificateGuard(revocation_settings(pki, cert, key), {},
                                 on_unusable=held.append, on_usable=lambda: usable.append(True))
        crl.revoke(serial)
        with pytest.raises(ConfigError, match=f"serial {serial:X} .* is revoked \\(CRL of "):
            guard.load_checked()
        crl.unrevoke(serial)
        guard.load_checked()
        assert guard.check() is None and held == [] and usable == []
        crl.revoke(serial)
        time.sleep(0.01)
        reason = guard.check()
        assert reason is not None and f"our TLS certificate {cert} serial {serial:X}" in reason
        assert held == [reason] and usable == []
        # Taken off the CRL again: the hold ends; but not while another problem remains.
        crl.unrevoke(serial)
        time.sleep(0.01)
        assert guard.check(now=now + timedelta(days=31)) == "certificate_expired"
        assert usable == []
        time.sleep(0.01)
        assert guard.check() is None and usable == [True]


def test_hard_fail_holds_when_the_status_is_unknown(pki: Path) -> None:
    now = datetime.now(UTC)
    cert, key = issue_leaf(pki, "guard-nocrl", oin=OIN, not_before=now - timedelta(days=1),
                           not_after=now + timedelta(days=30),
                           crl_url="http://127.0.0.1:9/none.crl")
    soft = CertificateGuard(revocation_settings(pki, cert, key), {})
    assert soft.load_checked() is not None
    hard = CertificateGuard(revocation_settings(pki, cert, key, soft_fail=False), {})
    with pytest.raises(ConfigError, match="revocation status unknown"):
        hard.load_checked()
    off = CertificateGuard(revocation_settings(pki, cert, key, soft_fail=False, check=False), {})
    assert off.load_checked() is not None
