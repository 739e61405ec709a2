"""Fault matrix rows 8–10: two-way TLS with DUO fails. The daemon (in this process) talks
to DUO through a fault proxy, which the test points at a simulator with a foreign CA or an
expired server certificate, and back at the good one; or the daemon's own client
certificate expires while it runs. Submitting pauses, nothing is dead-lettered, failed or
counted against a record, readiness says why, and work resumes once TLS is right."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapter.config import DUO_OIN
from adapter.pki.testpki import init_test_pki, issue_leaf
from adapter.simulator.server import SimulatorServer

from .conftest import SCHOOL_OIN, Rig, control, wait_for


def serve(pki: Path) -> SimulatorServer:
    sim = SimulatorServer(pki, port=0, control_port=0, delay_behandeling=0.5,
                          delay_afgesloten=1.0)
    sim.start()
    return sim


@pytest.fixture()
def foreign_sim(tmp_path: Path) -> Iterator[SimulatorServer]:
    """A simulator whose server certificate comes from a PKI the daemon does not trust."""
    pki = tmp_path / "foreign-pki"
    init_test_pki(pki, school_oin=SCHOOL_OIN)
    sim = serve(pki)
    yield sim
    sim.stop()


@pytest.fixture()
def expired_sim(pki_dir: Path, tmp_path: Path) -> Iterator[SimulatorServer]:
    """A simulator serving an expired server certificate (issued by the trusted CA)."""
    pki = tmp_path / "expired-pki"
    shutil.copytree(pki_dir, pki)
    now = datetime.now(UTC)
    cert, key = issue_leaf(pki, "duo-expired", oin=DUO_OIN, not_before=now - timedelta(days=400),
                           not_after=now - timedelta(days=1))
    shutil.copy(cert, pki / "duo.pem")
    shutil.copy(key, pki / "duo-key.pem")
    sim = serve(pki)
    yield sim
    sim.stop()


def soap_port(sim: SimulatorServer) -> int:
    return int(sim.soap_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def system_fault_then_heal(rig: Rig, bad: SimulatorServer) -> None:
    proxy = rig.soap_proxy()
    proxy.retarget("127.0.0.1", soap_port(bad))
    daemon = rig.start()
    rig.publish(3)
    wait_for(lambda: any(e["event"] == "submissions_paused" for e in rig.logs),
             what="submissions paused", timeout=20)
    ready, details = daemon.readiness()
    assert not ready and details["submissions_paused"]
    assert not rig.done_ids() and not rig.dead_ids()
    assert control(rig.sim, "ledger") == {}
    proxy.retarget("127.0.0.1", soap_port(rig.sim))
    rig.settle(timeout=30)
    rig.verdict().assert_clean()
    assert not any(e["event"] in ("report_failed", "submission_retry_scheduled")
                   for e in rig.logs)


def test_row08_tls_handshake_failure_untrusted_server(rig: Rig,
                                                      foreign_sim: SimulatorServer) -> None:
    """DUO presents a certificate of a CA we do not trust: a system fault."""
    system_fault_then_heal(rig, foreign_sim)
    assert any("tls" in str(e.get("error", "")).lower() for e in rig.logs
               if e["event"] == "submissions_paused")


def test_row10_expired_server_certificate(rig: Rig, expired_sim: SimulatorServer) -> None:
    """DUO presents an expired certificate (and a name that is not its address): a system
    fault; the client never falls back to an unverified connection."""
    system_fault_then_heal(rig, expired_sim)


def test_row09_client_certificate_expires_while_running(rig: Rig, pki_dir: Path,
                                                        tmp_path: Path) -> None:
    """Our client certificate expires under the running daemon: submissions are held
    (``certificate_expired``), readiness says so, nothing is sent or counted; a valid
    certificate and a reload (SIGHUP) resume the work."""
    own = tmp_path / "own-pki"
    shutil.copytree(pki_dir, own)
    good = (own / "school.pem").read_bytes(), (own / "school-key.pem").read_bytes()
    now = datetime.now(UTC)
    cert, key = issue_leaf(own, "short-lived", oin=SCHOOL_OIN,
                           not_before=now - timedelta(days=1), not_after=now + timedelta(seconds=6))
    shutil.copy(cert, own / "school.pem")
    shutil.copy(key, own / "school-key.pem")
    rig.pki = own
    daemon = rig.start()
    wait_for(lambda: daemon.submitter.held is not None, what="submissions held", timeout=20)
    assert "certificate" in str(daemon.readiness()[1].get("pause_reason"))
    rig.publish(3)
    time.sleep(2.0)
    assert not rig.done_ids() and not rig.dead_ids()
    assert control(rig.sim, "ledger") == {}
    (own / "school.pem").write_bytes(good[0])
    (own / "school-key.pem").write_bytes(good[1])
    assert daemon.reload()
    rig.settle(timeout=30)
    rig.verdict().assert_clean()
    assert any(e["event"] == "submissions_held" and e.get("reason") == "certificate_expired"
               for e in rig.logs)
