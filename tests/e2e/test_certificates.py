"""The daemon and its certificate: refuse to start when unusable, hold when it expires, reload."""

from __future__ import annotations

import json
import random
import shutil
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from adapter.config import Settings
from adapter.pki.testpki import issue_leaf
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import ROOT, SCHOOL_OIN, Tap, dead_letters, make_settings, subprocess_env, wait_for
from .records import encode, record
from .test_process import start_daemon, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def readyz(port: int) -> tuple[int, dict]:
    try:
        with urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return 0, {}


def expired_cert(pki: Path) -> tuple[Path, Path]:
    now = datetime.now(UTC)
    return issue_leaf(pki, "expired", oin=SCHOOL_OIN, not_before=now - timedelta(days=400),
                      not_after=now - timedelta(days=1))


def config_for(own_pki: Path, vhost: str, sim: SimulatorServer, tmp_path: Path,
               health_port: int = 0) -> Path:
    settings = make_settings(own_pki, vhost, sim.soap_url, tmp_path / "s.db")
    settings = settings.model_copy(update={"health": settings.health.model_copy(
        update={"port": health_port})})
    path = write_config(tmp_path / "c.toml", settings)
    text = path.read_text().replace(
        "[amqp]", "certificate_check_interval = 0.5\n[amqp]", 1)
    path.write_text(text)
    return path


def test_daemon_refuses_to_start_with_an_expired_certificate(
        own_pki: Path, vhost: str, simulator: SimulatorServer, tmp_path: Path) -> None:
    cert, key = expired_cert(own_pki)
    shutil.copy(cert, own_pki / "school.pem")
    shutil.copy(key, own_pki / "school-key.pem")
    config = config_for(own_pki, vhost, simulator, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "adapter", "--config", str(config), "run"],
                          capture_output=True, text=True, timeout=60, env=subprocess_env(),
                          cwd=ROOT)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "expired" in proc.stderr and proc.stderr.strip().count("\n") == 0


@pytest.mark.timeout(120)
def test_expiry_while_running_holds_submissions_until_reload(
        own_pki: Path, vhost: str, simulator: SimulatorServer, tmp_path: Path) -> None:
    port = free_port()
    config = config_for(own_pki, vhost, simulator, tmp_path, health_port=port)
    settings: Settings = make_settings(own_pki, vhost, simulator.soap_url, tmp_path / "x.db")
    tap = Tap(settings)
    good_cert, good_key = (own_pki / "school.pem").read_bytes(), (own_pki / "school-key.pem").read_bytes()
    proc = start_daemon(config, tmp_path / "daemon.log")
    try:
        wait_for(lambda: readyz(port)[0] == 200, what="daemon ready", timeout=30)
        cert, key = expired_cert(own_pki)
        shutil.copy(cert, own_pki / "school.pem")
        shutil.copy(key, own_pki / "school-key.pem")
        status = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(readyz(port)),
                          what="not ready after the swap", timeout=20)
        assert "certificate" in status[1]["pause_reason"]
        rec = record(random.Random(3))
        publish_export(settings.amqp, body=encode(rec), vendor="canonical")
        with pytest.raises(AssertionError):
            wait_for(lambda: tap.of("registered"), timeout=3, what="no registration while held")
        assert not tap.of("rejected") and not tap.of("failed")
        assert dead_letters(settings) == []
        assert simulator_ledger_empty(simulator)
        # Put the valid certificate back and reload.
        (own_pki / "school.pem").write_bytes(good_cert)
        (own_pki / "school-key.pem").write_bytes(good_key)
        proc.send_signal(signal.SIGHUP)
        registered = wait_for(lambda: tap.of("registered"), what="registered after reload")
        assert registered[0]["source_id"] == rec["source_id"]
        wait_for(lambda: readyz(port)[0] == 200, what="ready again", timeout=20)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        tap.close()
    events = [json.loads(line)["event"] for line in (tmp_path / "daemon.log").read_text().splitlines()
              if line.startswith("{")]
    assert "submissions_held" in events and "certificate_reloaded" in events


def simulator_ledger_empty(sim: SimulatorServer) -> bool:
    from support import control
    return control(sim, "ledger") == {}
