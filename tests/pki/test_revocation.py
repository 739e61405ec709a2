"""Revocation checks against the test PKI's own CRL and OCSP service, over real HTTP."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from adapter.config import RevocationSettings
from adapter.pki.certs import load_pem_chain
from adapter.pki.revocation import RevocationChecker, crl_urls, ocsp_urls
from adapter.pki.testpki import issue_leaf
from adapter.pki.testrevocation import TestRevocationServer
from adapter.testing import capture_log_lines

from .conftest import OIN

_names = itertools.count()


@pytest.fixture()
def server(pki: Path) -> Iterator[TestRevocationServer]:
    with TestRevocationServer(pki) as srv:
        yield srv


def leaf(pki: Path, *, crl: str | None = None,
         ocsp: str | None = None) -> tuple[x509.Certificate, x509.Certificate]:
    """A fresh certificate from the TSP CA, and that CA."""
    now = datetime.now(UTC)
    cert, _ = issue_leaf(pki, f"rev-{next(_names)}", oin=OIN, not_before=now - timedelta(days=1),
                         not_after=now + timedelta(days=30), crl_url=crl, ocsp_url=ocsp)
    chain = load_pem_chain(cert)
    return chain[0], chain[1]


def checker(**settings: object) -> RevocationChecker:
    return RevocationChecker(RevocationSettings.model_validate({"timeout": 2.0, **settings}))


def test_a_certificate_without_distribution_point_or_responder_is_not_checked(
        pki: Path) -> None:
    cert, issuer = leaf(pki)
    assert crl_urls(cert) == [] and ocsp_urls(cert) == []
    assert checker().check(cert, issuer).status == "unchecked"


def test_crl_good_then_revoked_after_the_interval(pki: Path,
                                                  server: TestRevocationServer) -> None:
    cert, issuer = leaf(pki, crl=server.crl_url)
    assert crl_urls(cert) == [server.crl_url]
    check = checker(interval=60)
    now = datetime.now(UTC)
    verdict = check.check(cert, issuer, now=now)
    assert verdict.status == "good" and "Test TSP" in verdict.source and "CRL" in verdict.source
    server.revoke(cert.serial_number)
    assert check.check(cert, issuer, now=now).status == "good"       # cached CRL
    assert server.hits["crl"] == 1
    verdict = check.check(cert, issuer, now=now + timedelta(seconds=61))
    assert verdict.status == "revoked" and server.hits["crl"] == 2


def test_a_cached_crl_is_refreshed_when_its_next_update_passes(
        pki: Path, server: TestRevocationServer) -> None:
    server.next_update = timedelta(seconds=30)
    cert, issuer = leaf(pki, crl=server.crl_url)
    check = checker(interval=3600)
    now = datetime.now(UTC)
    assert check.check(cert, issuer, now=now).status == "good"
    server.revoke(cert.serial_number)
    server.next_update = timedelta(hours=1)
    assert check.check(cert, issuer, now=now + timedelta(seconds=31)).status == "revoked"


def test_a_crl_with_a_bad_signature_is_refused(pki: Path, server: TestRevocationServer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    cert, issuer = leaf(pki, crl=server.crl_url)
    server.revoke(cert.serial_number)
    server.forge_crl = True
    assert checker().check(cert, issuer).status == "unknown"


def test_a_forged_crl_does_not_replace_the_last_good_one(
        pki: Path, server: TestRevocationServer) -> None:
    cert, issuer = leaf(pki, crl=server.crl_url)
    server.revoke(cert.serial_number)
    check = checker(interval=1)
    now = datetime.now(UTC)
    assert check.check(cert, issuer, now=now).status == "revoked"
    server.unrevoke(cert.serial_number)
    server.forge_crl = True     # a forged "all good" CRL
    assert check.check(cert, issuer, now=now + timedelta(seconds=2)).status == "revoked"


def test_a_stale_crl_is_refused(pki: Path, server: TestRevocationServer) -> None:
    server.next_update = timedelta(seconds=-10)
    cert, issuer = leaf(pki, crl=server.crl_url)
    assert checker().check(cert, issuer).status == "unknown"


def test_unreachable_soft_fail_keeps_the_last_good_answer(
        pki: Path, server: TestRevocationServer) -> None:
    cert, issuer = leaf(pki, crl=server.crl_url)
    server.revoke(cert.serial_number)
    soft, hard = checker(interval=1), checker(interval=1, soft_fail=False)
    now = datetime.now(UTC)
    assert soft.check(cert, issuer, now=now).status == "revoked"
    assert hard.check(cert, issuer, now=now).status == "revoked"
    server.available = False
    later = now + timedelta(hours=2)      # past the CRL's nextUpdate too
    assert soft.check(cert, issuer, now=later).status == "revoked"
    assert hard.check(cert, issuer, now=later).status == "unknown"
    # Within nextUpdate even the hard-fail checker keeps its current CRL.
    assert hard.check(cert, issuer, now=now + timedelta(seconds=5)).status == "revoked"


def test_unreachable_without_any_answer_is_unknown(pki: Path) -> None:
    cert, issuer = leaf(pki, crl="http://127.0.0.1:9/none.crl")
    assert checker(timeout=1.0).check(cert, issuer).status == "unknown"


def test_a_crl_signed_by_another_issuer_is_refused(pki: Path,
                                                   server: TestRevocationServer) -> None:
    cert, _ = leaf(pki, crl=server.crl_url)
    other = load_pem_chain(pki / "trust-bundle.pem")[0]     # the root, not the TSP CA
    assert checker().check(cert, other).status == "unknown"


@pytest.mark.parametrize("delegate", [False, True])
def test_ocsp_good_and_revoked(pki: Path, delegate: bool) -> None:
    with TestRevocationServer(pki, delegate=delegate) as server:
        cert, issuer = leaf(pki, crl=server.crl_url, ocsp=server.ocsp_url)
        check = checker()
        verdict = check.check(cert, issuer)
        assert verdict.status == "good" and verdict.source.startswith("OCSP")
        server.revoke(cert.serial_number)
        verdict = check.check(cert, issuer)
        assert verdict.status == "revoked" and verdict.source.startswith("OCSP")
        assert server.hits["crl"] == 0


def test_a_forged_ocsp_answer_falls_back_to_the_crl(pki: Path,
                                                    server: TestRevocationServer) -> None:
    cert, issuer = leaf(pki, crl=server.crl_url, ocsp=server.ocsp_url)
    server.revoke(cert.serial_number)
    server.forge_ocsp = True
    verdict = checker().check(cert, issuer)
    assert verdict.status == "revoked" and verdict.source.startswith("CRL")
    assert server.hits == {"ocsp": 1, "crl": 1}
    server.forge_crl = True
    assert checker().check(cert, issuer).status == "unknown"


def test_ocsp_off_uses_only_the_crl(pki: Path, server: TestRevocationServer) -> None:
    cert, issuer = leaf(pki, crl=server.crl_url, ocsp=server.ocsp_url)
    verdict = checker(ocsp=False).check(cert, issuer)
    assert verdict.status == "good" and verdict.source.startswith("CRL")
    assert server.hits["ocsp"] == 0


def test_a_refused_source_is_logged_once_until_it_recovers(
        pki: Path, server: TestRevocationServer) -> None:
    cert, issuer = leaf(pki, crl=server.crl_url)
    check = checker(interval=1)
    now = datetime.now(UTC)
    server.forge_crl = True
    with capture_log_lines() as lines:
        for step in range(3):
            assert check.check(cert, issuer, now=now + timedelta(seconds=2 * step)).status \
                == "unknown"
        server.forge_crl = False
        assert check.check(cert, issuer, now=now + timedelta(seconds=10)).status == "good"
    events = [line for line in lines if "revocation_source" in line]
    assert len(events) == 2, events
    assert "revocation_source_invalid" in events[0] and "signature" in events[0]
    assert "revocation_source_recovered" in events[1]
