"""The daemon and the demo as a user runs them: separate processes, signals, logs."""

from __future__ import annotations

import json
import random
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapter.config import Settings
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import ROOT, SAMPLES, SPAWNED, Tap, control, subprocess_env, wait_for
from .records import encode, record


def write_config(path: Path, settings: Settings, **logging: str) -> Path:
    duo = settings.duo
    lines = [
        "[school]", f'brin = "{settings.school.brin}"', f'oin = "{settings.school.oin}"',
        "[duo]", f'url = "{duo.url}"', f'ca_bundle = "{duo.ca_bundle}"',
        f'client_cert = "{duo.client_cert}"', f'client_key = "{duo.client_key}"',
        f'signature_cert = "{duo.signature_cert}"',
        f"read_timeout = {duo.read_timeout}", f"poll_interval = {duo.poll_interval}",
        f"retry_base_seconds = {duo.retry_base_seconds}", f"retry_max_seconds = {duo.retry_max_seconds}",
        "[amqp]", f'url = "{settings.amqp.url}"', f"heartbeat = {settings.amqp.heartbeat}",
        "[store]", f'url = "{settings.store.url}"',
        "[logging]", f'format = "{logging.get("format", "json")}"',
        "[health]", f"port = {settings.health.port}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_daemon(config: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """The daemon as a process (killed at teardown if the test left it running)."""
    proc = subprocess.Popen([sys.executable, "-m", "adapter", "--config", str(config), "run"],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env={**subprocess_env(), **env}, cwd=ROOT)
    SPAWNED.append(proc)
    return proc


def wait_started(log: Path, runs: int) -> None:
    """Wait until the ``runs``-th daemon on ``log`` has its signal handlers (it logs
    ``daemon_started`` after installing them): a SIGTERM before that ends any Python
    process with -15, which is not what a stop test is about."""
    wait_for(lambda: log.read_text(errors="replace").count('"daemon_started"') >= runs,
             what="the daemon started", timeout=60)


@pytest.mark.timeout(180)
def test_sigterm_under_load_loses_nothing(settings: Settings, simulator: SimulatorServer,
                                          tap: Tap, tmp_path: Path) -> None:
    rng = random.Random(7)
    config = write_config(tmp_path / "c.toml", settings)
    log = tmp_path / "daemon.log"
    # Enough that the stop comes while work is in flight (a fast daemon finished 40
    # before the dump below was written).
    records = [record(rng) for _ in range(100)]
    proc = start_daemon(config, log)
    try:
        for rec in records:
            publish_export(settings.amqp, body=encode(rec), vendor="canonical")
        wait_for(lambda: len(tap.of("registered")) >= 3, what="some registrations", timeout=60)
        # SIGUSR1 dumps the threads' stacks to stderr (here: the log) and the daemon runs on.
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "Thread 0x" in log.read_text(errors="replace")
                 and "in run_forever" in log.read_text(errors="replace"),
                 what="a stack dump with the main thread", timeout=10)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        proc = start_daemon(config, log)
        wait_started(log, 2)
        wanted = {r["source_id"] for r in records}
        wait_for(lambda: {e["source_id"] for e in tap.of("registered")} >= wanted,
                 what="every record registered after restart", timeout=90)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    ledger = control(simulator, "ledger")
    assert len(ledger) == len(records) and set(ledger.values()) == {1}
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e["event"] == "daemon_stopped" for e in events)


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (``SigCgt`` in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.timeout(120)
def test_sigterm_while_the_daemon_starts_stops_it_cleanly(settings: Settings,
                                                          tmp_path: Path) -> None:
    # An orchestrator may stop a container just after starting it. The signal comes
    # while Python still imports the daemon's libraries (most of a second): held
    # until the daemon can act on it, it ends the daemon with exit 0, not -15.
    config = write_config(tmp_path / "c.toml", settings)
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    wait_for(lambda: proc.poll() is not None or catches(proc.pid, signal.SIGTERM),
             what="the program holding SIGTERM", timeout=30, interval=0.002)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")[-2000:]
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()
              if line.startswith("{")]
    assert "daemon_started" not in events       # it came before the daemon was up
    assert events[-1] == "daemon_stopped" and "signal_received" in events


@pytest.mark.timeout(120)
def test_run_sets_the_daemon_up_without_the_collector_and_freezes_it(settings: Settings,
                                                                     tmp_path: Path) -> None:
    # The command as the program runs it, the daemon's loop replaced by a report of the
    # collector: off while the daemon was built, on (and the set-up frozen) when its
    # threads would start.
    config = write_config(tmp_path / "c.toml", settings)
    code = f"""
import gc, sys
from adapter.pipeline.daemon import Daemon
built = []
init = Daemon.__init__
def recording_init(self, *args, **kwargs):
    init(self, *args, **kwargs)
    built.append(gc.isenabled())
def report(self):
    print("built", built, "running", gc.isenabled(), gc.get_freeze_count() > 50000)
    self.stop()
    return 0
Daemon.__init__, Daemon.run_forever = recording_init, report
sys.argv = ["verzuim-adapter", "--config", {str(config)!r}, "run"]
from adapter.startup import main
main()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=90, env=subprocess_env(), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "built [False] running True True" in done.stdout, done.stdout[-2000:]


def personal_values(directory: Path) -> set[str]:
    """Every personal value in the samples: ids, names, e-mails, phones, free texts."""
    keys = {"bsn", "onderwijsnummer", "achternaam", "voornamen", "voorvoegsel", "naam",
            "emailadres", "telefoonnummer", "vermoedelijke_reden", "toelichting",
            "toelichting_actie_ondernomen", "toelichting_actie_gewenst", "geboortedatum"}
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in keys and isinstance(value, str) and len(value) >= 4:
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in directory.glob("*.json"):
        try:
            walk(json.loads(path.read_text()))
        except ValueError:
            continue
    return found


def vendor_sample_values() -> set[str]:
    """Personal values of every installed vendor's demo samples, as the vendor maps them."""
    from adapter.commands.demo import sample_files
    from adapter.vendors import load_vendors
    from adapter.testing import map_export
    from adapter.testing import personal_values as mapped_values
    registry = load_vendors()
    found: set[str] = set()
    for vendor, path in sample_files(ROOT, set(registry.names()) - {"canonical"}):
        if vendor == "canonical":
            continue
        try:
            found |= mapped_values(map_export(registry.get(vendor), path.read_bytes()))
        except Exception:  # noqa: BLE001 - an undecodable sample has no values to leak
            continue
    return found


@pytest.mark.timeout(240)
def test_demo_runs_and_logs_no_personal_data(settings: Settings, tmp_path: Path,
                                             xmlsec1: str) -> None:
    # The demo starts its own simulator on the configured port: give it a free one.
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pki = tmp_path / "demo" / "pki"
    demo_settings = settings.model_copy(update={"duo": settings.duo.model_copy(update={
        "url": f"https://127.0.0.1:{port}/verzuim/v1", "ca_bundle": pki / "trust-bundle.pem",
        "client_cert": pki / "school.pem", "client_key": pki / "school-key.pem",
        "signature_cert": pki / "duo.pem"}),
        "store": settings.store.model_copy(update={"url": f"sqlite:///{tmp_path / 'demo' / 'v.db'}"})})
    config = write_config(tmp_path / "demo.toml", demo_settings)
    proc = subprocess.run([sys.executable, "-m", "adapter", "--config", str(config), "demo",
                           "--control-port", "0"],
                          capture_output=True, text=True, timeout=220, env=subprocess_env(), cwd=ROOT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"demo: registered=(\d+) rejected=(\d+) terugmeldingen=(\d+) dead=(\d+)", last)
    assert match, last
    registered, rejected, terugmeldingen, dead = map(int, match.groups())
    assert registered >= 3 and rejected >= 1 and terugmeldingen >= 3 and dead >= 1
    everything = output + (tmp_path / "demo" / "daemon.log").read_text()
    secrets = personal_values(SAMPLES) | vendor_sample_values()
    assert len(secrets) >= 30
    leaked = sorted(v for v in secrets if v in everything)
    assert not leaked, f"{len(leaked)} personal values leaked into logs or output"

    # The archive after the demo: every report listed, and a registered one's envelopes
    # verify with an independent verifier and the demo PKI's certificates.
    from .test_archive import cli, xmlsec_verify
    listed = cli(config, "meldingen", "list", "--json", "--limit", "500")
    assert listed.returncode == 0, listed.stderr
    reports = json.loads(listed.stdout)
    assert len(reports) >= registered and all("id" in r for r in reports)
    done = next(r for r in reports if r["state"] == "registered" and r["meldingsnummer"])
    out = tmp_path / "evidence"
    shown = cli(config, "meldingen", "show", str(done["id"]), "--xml", "--out", str(out))
    assert shown.returncode == 0, shown.stderr
    envelopes = sorted(out.glob("*.xml"))
    assert envelopes and envelopes[0].name.endswith("aanleverenVerzuimmelding-request.xml")
    for path in envelopes:
        cert = pki / ("school.pem" if path.name.endswith("-request.xml") else "duo.pem")
        checked = xmlsec_verify(xmlsec1, path, cert)
        assert checked.returncode == 0, (path.name, checked.stderr[-500:])


@pytest.mark.timeout(60)
def test_simulator_command_starts_from_a_pki_directory_alone(tmp_path: Path) -> None:
    """The supplier's proeftuin in two commands: `pki init-test DIR`, `simulator --pki DIR`."""
    import socket
    pki = tmp_path / "pki"
    init = subprocess.run([sys.executable, "-m", "adapter", "pki", "init-test", str(pki)],
                          capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert init.returncode == 0, init.stderr
    assert (pki / "school-key.pem").stat().st_mode & 0o777 == 0o600
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "adapter", "simulator", "--pki", str(pki),
                             "--port", str(ports[0]), "--control-port", str(ports[1])],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=subprocess_env())
    try:
        ready = ""
        while "simulator: soap=" not in ready:
            line = proc.stdout.readline()
            assert line, "simulator exited before it was ready"
            ready = line
        assert f"https://127.0.0.1:{ports[0]}/verzuim/v1" in ready
        from urllib.request import urlopen
        with urlopen(f"http://127.0.0.1:{ports[1]}/control/meldingen", timeout=5) as resp:  # noqa: S310
            assert json.loads(resp.read()) == []
        # Without a client certificate the SOAP port refuses the handshake.
        ctx = ssl.create_default_context(cafile=str(pki / "trust-bundle.pem"))
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with socket.create_connection(("127.0.0.1", ports[0]), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"POST /verzuim/v1 HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not tls.recv(1024):
                        raise ConnectionResetError("closed without an answer")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
