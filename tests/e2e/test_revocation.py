"""Revocation end to end: the test PKI publishes a CRL; a revoked certificate holds submissions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapter.config import RevocationSettings, Settings
from adapter.errors import ConfigError
from adapter.pipeline.daemon import Daemon
from adapter.pki.certs import load_pem_chain
from adapter.pki.testpki import issue_leaf, reissue_duo
from adapter.pki.testrevocation import TestRevocationServer
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import SCHOOL_OIN, Tap, control, dead_letters, make_settings, wait_for
from .records import encode, record
from .test_certificates import free_port, readyz


@pytest.fixture()
def crl(own_pki: Path) -> Iterator[TestRevocationServer]:
    with TestRevocationServer(own_pki) as server:
        yield server


def start_simulator(pki: Path, port: int, tls_cert: Path | None = None) -> SimulatorServer:
    return SimulatorServer(pki, port=port, control_port=0, delay_behandeling=0.5,
                           delay_afgesloten=1.0, tls_cert=tls_cert).start()


def checking(settings: Settings, health_port: int) -> Settings:
    """``settings`` with quick certificate and revocation checks and a health port."""
    return settings.model_copy(update={
        "duo": settings.duo.model_copy(update={"certificate_check_interval": 0.5}),
        "revocation": RevocationSettings(interval=0.5, timeout=2.0),
        "health": settings.health.model_copy(update={"port": health_port})})


def not_ready(port: int) -> dict | None:  # type: ignore[type-arg]
    status, body = readyz(port)
    return body if status == 503 else None


@pytest.mark.timeout(180)
def test_a_revoked_duo_certificate_holds_submissions_until_it_is_replaced(
        own_pki: Path, vhost: str, crl: TestRevocationServer, tmp_path: Path) -> None:
    # DUO's TLS certificate names the local CRL; its signing certificate (duo.pem,
    # pinned by the daemon) is another certificate for the same key.
    duo = reissue_duo(own_pki, name="duo-tls", crl_url=crl.crl_url)
    tls_cert = own_pki / "duo-tls.pem"
    sim_port, health = free_port(), free_port()
    sim = start_simulator(own_pki, sim_port, tls_cert)
    settings = checking(make_settings(own_pki, vhost, sim.soap_url, tmp_path / "s.db"), health)
    tap = Tap(settings)
    daemon = Daemon(settings)
    daemon.start()
    try:
        wait_for(lambda: readyz(health)[0] == 200, what="daemon ready", timeout=30)
        wait_for(lambda: crl.hits["crl"] > 0, what="the DUO certificate checked", timeout=10)
        crl.revoke(duo.serial_number)
        body = wait_for(lambda: not_ready(health), what="not ready after the revocation",
                        timeout=20)
        reason = body["pause_reason"]
        assert f"DUO server certificate serial {duo.serial_number:X}" in reason
        assert "is revoked (CRL of Test TSP PKIoverheid Private Services CA - G1)" in reason
        rec = record(random.Random(11))
        publish_export(settings.amqp, body=encode(rec), vendor="canonical")
        with pytest.raises(AssertionError):
            wait_for(lambda: tap.of("registered"), timeout=3, what="no registration while held")
        assert not tap.of("rejected") and not tap.of("failed")
        assert dead_letters(settings) == []
        assert control(sim, "ledger") == {}
        # DUO replaces its TLS certificate (a new serial, not in the CRL).
        sim.stop()
        replacement = reissue_duo(own_pki, name="duo-tls", crl_url=crl.crl_url)
        sim = start_simulator(own_pki, sim_port, tls_cert)
        registered = wait_for(lambda: tap.of("registered"), what="registered after replacement",
                              timeout=40)
        assert registered[0]["source_id"] == rec["source_id"]
        assert readyz(health)[0] == 200
        assert daemon.certificates.revoked is None
        assert replacement.serial_number != duo.serial_number
    finally:
        daemon.stop(timeout=20)
        tap.close()
        sim.stop()


def own_certificate(pki: Path, name: str, crl_url: str) -> tuple[Path, Path]:
    now = datetime.now(UTC)
    return issue_leaf(pki, name, oin=SCHOOL_OIN, not_before=now - timedelta(days=1),
                      not_after=now + timedelta(days=300), crl_url=crl_url)


@pytest.mark.timeout(180)
def test_our_revoked_certificate_is_refused_at_start_and_holds_while_running(
        own_pki: Path, vhost: str, crl: TestRevocationServer, tmp_path: Path) -> None:
    cert, key = own_certificate(own_pki, "ours", crl.crl_url)
    serial = load_pem_chain(cert)[0].serial_number
    health = free_port()
    sim = start_simulator(own_pki, 0)
    settings = checking(make_settings(own_pki, vhost, sim.soap_url, tmp_path / "s.db",
                                      client_cert=str(cert), client_key=str(key)), health)
    crl.revoke(serial)
    with pytest.raises(ConfigError, match=f"our TLS certificate {cert} serial {serial:X}"):
        Daemon(settings)
    crl.unrevoke(serial)
    daemon = Daemon(settings)
    daemon.start()
    try:
        wait_for(lambda: readyz(health)[0] == 200, what="daemon ready", timeout=30)
        crl.revoke(serial)
        body = wait_for(lambda: not_ready(health), what="held after our revocation", timeout=20)
        assert f"our TLS certificate {cert} serial {serial:X}" in body["pause_reason"]
        assert "is revoked" in body["pause_reason"]
        # A reload with the same (revoked) files is refused and changes nothing.
        assert daemon.reload() is False
        assert not_ready(health) is not None
        # A new certificate in place of the revoked one, then SIGHUP's reload: resumed.
        new_cert, new_key = own_certificate(own_pki, "ours-new", crl.crl_url)
        cert.write_bytes(new_cert.read_bytes())
        key.write_bytes(new_key.read_bytes())
        assert daemon.reload() is True
        wait_for(lambda: readyz(health)[0] == 200, what="ready after the new certificate",
                 timeout=20)
    finally:
        daemon.stop(timeout=20)
        sim.stop()
