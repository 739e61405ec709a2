"""End-to-end fixtures: a vhost per test, a test PKI, the simulator over TLS, a daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from adapter.config import Settings, load_settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer

import support
from support import SCHOOL_OIN, control  # noqa: F401 - re-exported for the tests

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "samples" / "canonical"


def rabbitmqctl(*args: str) -> None:
    support.rabbitmqctl(*args)


@pytest.fixture()
def vhost() -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    rabbitmqctl("delete_vhost", name)


@pytest.fixture()
def own_pki(pki_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session PKI whose certificate files a test may swap."""
    copy = tmp_path / "pki"
    shutil.copytree(pki_dir, copy)
    return copy


@pytest.fixture()
def simulator(pki_dir: Path) -> Iterator[SimulatorServer]:
    # No student registry: the records here are random students (records.py), and a loaded
    # ROD refuses students it does not know, as DUO would. A test that needs the registry
    # loads its own students through the control API.
    sim = SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=0.5,
                          delay_afgesloten=1.0)
    sim.start()
    yield sim
    sim.stop()


def make_settings(pki_dir: Path, vhost: str, soap_url: str, db: Path, **duo: Any) -> Settings:
    return load_settings(None, overrides={
        "school": {"brin": "00AA", "oin": SCHOOL_OIN},
        "duo": {"url": soap_url, "ca_bundle": str(pki_dir / "trust-bundle.pem"),
                "client_cert": str(pki_dir / "school.pem"),
                "client_key": str(pki_dir / "school-key.pem"),
                "signature_cert": str(pki_dir / "duo.pem"),
                "read_timeout": 3.0, "poll_interval": 0.5, "retry_base_seconds": 0.2,
                "retry_max_seconds": 1.0, **duo},
        "amqp": {"url": f"amqp://guest:guest@127.0.0.1:5672/{vhost}", "heartbeat": 5},
        "store": {"url": f"sqlite:///{db}"},
        "health": {"port": 0},
    })


@pytest.fixture()
def daemon(settings: Settings) -> Iterator[Daemon]:
    """The daemon in this process (its store and client reachable), started and stopped."""
    d = Daemon(settings)
    d.start()
    wait_for(lambda: d.amqp_connected, what="daemon connected to the broker")
    yield d
    d.stop(timeout=20)


@pytest.fixture()
def settings(pki_dir: Path, vhost: str, simulator: SimulatorServer, tmp_path: Path) -> Settings:
    return make_settings(pki_dir, vhost, simulator.soap_url, tmp_path / "store.db")




class Tap:
    """Reads what the adapter tells the SIS, from a queue bound to verzuim.adapter."""

    def __init__(self, settings: Settings) -> None:
        from adapter.sis import connection_parameters, declare_event_tap, declare_topology
        self.conn = pika.BlockingConnection(connection_parameters(settings.amqp))
        self.channel = self.conn.channel()
        declare_topology(self.channel, settings.amqp)
        self.queue = "test.tap"
        declare_event_tap(self.channel, settings.amqp, self.queue)
        self.events: list[tuple[str, dict[str, Any], Any]] = []

    def drain(self) -> list[tuple[str, dict[str, Any], Any]]:
        while True:
            method, props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.events
            event = method.routing_key.rsplit(".", 1)[-1]
            self.events.append((event, json.loads(body), props))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for event, data, _ in self.drain() if event == kind]

    def close(self) -> None:
        # The tap answers the broker's heartbeats only while the test reads it: after a
        # long step (a browser, on a loaded machine) the broker may have dropped it.
        try:
            self.conn.close()
        except pika.exceptions.AMQPError:
            pass


@pytest.fixture()
def tap(settings: Settings) -> Iterator[Tap]:
    t = Tap(settings)
    yield t
    t.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def dead_letters(settings: Settings) -> list[tuple[str | None, dict[str, Any]]]:
    """(message_id, headers) of every message in the dead-letter queue, left in place."""
    from adapter.sis import connection_parameters
    conn = pika.BlockingConnection(connection_parameters(settings.amqp))
    try:
        ch = conn.channel()
        out = []
        while True:
            method, props, body = ch.basic_get(settings.amqp.dead_queue, auto_ack=False)
            if method is None:
                return out
            out.append((props.message_id, dict(props.headers or {})))
    finally:
        conn.close()


#: Daemon processes the running test started (``test_process.start_daemon``).
SPAWNED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _reap_daemons() -> Iterator[None]:
    """Kill what a test's daemons left running: a failed test must not leave a daemon
    behind that keeps consuming CPU and the broker for the rest of the run."""
    yield
    while SPAWNED:
        proc = SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VERZUIM_CONFIG", None)
    return env
