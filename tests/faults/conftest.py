"""The fault matrix's rig (style-and-reliability.md B.5): a vhost, the simulator, the
daemon (in this process unless a test needs a process to kill), fault proxies, and the
invariant checker (``tests/invariants.py``) after heal and drain.

Short clocks so each fault resolves in seconds: AMQP heartbeat 2 s, blocked-connection
timeout 4 s, reconnect backoff capped at 2 s, SOAP timeouts 1 s, retries from 0.2 s,
feedback polled every second,
submission pause after a system fault 1 s.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import e2e.conftest as e2e_fixtures
import pika
import pika.exceptions
import pytest
from e2e.conftest import SCHOOL_OIN, Tap, control, dead_letters, wait_for
from e2e.records import encode, make_bsn, record
from faultproxy import FaultProxy
from invariants import Verdict, check
from stall import account
from structlog.testing import capture_logs

from adapter.config import Settings, load_settings
from adapter.pipeline.daemon import Daemon
from adapter.pipeline.stacks import format_stacks
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

# The end-to-end fixtures this folder shares: a vhost per test, the simulator, and the
# reaper of daemon processes a failed test left behind.
vhost = e2e_fixtures.vhost
simulator = e2e_fixtures.simulator
_reap_daemons = e2e_fixtures._reap_daemons

#: The clocks of every fault test (see the module docstring).
AMQP = {"heartbeat": 2, "blocked_connection_timeout": 4.0, "reconnect_max_seconds": 2.0,
        "connect_timeout": 2.0}
DUO = {"read_timeout": 1.0, "connect_timeout": 1.0, "poll_interval": 1.0,
       "retry_base_seconds": 0.2, "retry_max_seconds": 1.0, "certificate_check_interval": 0.5}


def fault_settings(pki: Path, vhost: str, soap_url: str, store_url: str, *,
                   amqp_port: int = 5672, duo: dict[str, Any] | None = None,
                   amqp: dict[str, Any] | None = None,
                   store: dict[str, Any] | None = None) -> Settings:
    return load_settings(None, overrides={
        "school": {"brin": "00AA", "oin": SCHOOL_OIN},
        "duo": {"url": soap_url, "ca_bundle": str(pki / "trust-bundle.pem"),
                "client_cert": str(pki / "school.pem"),
                "client_key": str(pki / "school-key.pem"),
                "signature_cert": str(pki / "duo.pem"), **DUO, **(duo or {})},
        "amqp": {"url": f"amqp://guest:guest@127.0.0.1:{amqp_port}/{vhost}", **AMQP,
                 **(amqp or {})},
        "store": {"url": store_url, **(store or {})},
        "health": {"port": 0},
    })


class Rig:
    """One fault test's world. ``settings`` is what the daemon uses (maybe through
    proxies); ``direct`` is the same broker without proxies, for the test's own
    publishing and its tap."""

    def __init__(self, pki: Path, vhost: str, sim: SimulatorServer, tmp_path: Path,
                 seed: str) -> None:
        self.pki, self.vhost, self.sim, self.tmp_path = pki, vhost, sim, tmp_path
        self.rng = random.Random(seed)
        self.store_url = f"sqlite:///{tmp_path / 'store.db'}"
        self.soap_url = sim.soap_url
        self.amqp_port = 5672
        self.duo: dict[str, Any] = {}
        self.amqp: dict[str, Any] = {}
        self.store: dict[str, Any] = {}
        self.sent: list[dict[str, Any]] = []
        self.message_ids: dict[str, list[str]] = {}     # message_id -> source ids
        self.raw_dead: set[str] = set()                  # message ids expected dead
        self.daemon: Daemon | None = None
        self.logs: list[dict[str, Any]] = []
        self.proxies: list[FaultProxy] = []
        self._tap: Tap | None = None

    # -- building -----------------------------------------------------------------------

    def proxy(self, host: str, port: int) -> FaultProxy:
        proxy = FaultProxy(host, port)
        self.proxies.append(proxy)
        return proxy

    def amqp_proxy(self) -> FaultProxy:
        proxy = self.proxy("127.0.0.1", 5672)
        self.amqp_port = proxy.port
        return proxy

    def soap_proxy(self, upstream: SimulatorServer | None = None) -> FaultProxy:
        sim = upstream or self.sim
        host, port = sim.soap_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        proxy = self.proxy(host, int(port))
        self.soap_url = sim.soap_url.replace(f":{port}/", f":{proxy.port}/", 1)
        return proxy

    @property
    def settings(self) -> Settings:
        return fault_settings(self.pki, self.vhost, self.soap_url, self.store_url,
                              amqp_port=self.amqp_port, duo=self.duo, amqp=self.amqp,
                              store=self.store)

    @property
    def direct(self) -> Settings:
        # The test's own connections (publisher, tap) idle between reads: a long heartbeat.
        return fault_settings(self.pki, self.vhost, self.sim.soap_url, self.store_url,
                              amqp={**self.amqp, "heartbeat": 120})

    @property
    def tap(self) -> Tap:
        if self._tap is None:
            self._tap = Tap(self.direct)
        return self._tap

    def reopen_tap(self) -> Tap:
        events = self._tap.events if self._tap is not None else []
        if self._tap is not None:
            try:
                self._tap.close()
            except pika.exceptions.AMQPError:
                pass
        self._tap = Tap(self.direct)
        self._tap.events = events
        return self._tap

    # -- running ------------------------------------------------------------------------

    def start(self, *, wait: bool = True, prepare: Callable[[Daemon], None] | None = None
              ) -> Daemon:
        self.tap  # noqa: B018 - the tap queue exists before the first event
        daemon = Daemon(self.settings)
        daemon.submitter._pause_seconds = 1.0   # a short system-fault pause
        daemon.consumer._pause_base = 0.2       # short pauses after a crash
        if prepare is not None:
            prepare(daemon)
        daemon.start()
        self.daemon = daemon
        if wait:
            wait_for(lambda: daemon.amqp_connected, what="daemon connected", timeout=20)
        return daemon

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop(timeout=20)
            self.daemon = None

    def new_record(self, **extra: Any) -> dict[str, Any]:
        rec = record(self.rng, bsn=make_bsn(self.rng), **extra)
        return rec

    def publish(self, n: int = 1, **extra: Any) -> list[dict[str, Any]]:
        """``n`` records, one message each, published with a confirm; all count as sent."""
        out = [self.new_record(**extra) for _ in range(n)]
        for rec in out:
            self.publish_body(encode(rec), [rec])
        return out

    def publish_body(self, body: bytes, records: list[dict[str, Any]], *,
                     message_id: str | None = None, dead: bool = False) -> str:
        mid = publish_export(self.direct.amqp, body=body, vendor="canonical",
                             message_id=message_id or str(uuid.uuid4()), declare=True)
        self.message_ids.setdefault(mid, []).extend(str(r["source_id"]) for r in records)
        for rec in records:
            if rec not in self.sent:
                self.sent.append(rec)
        if dead:
            self.raw_dead.add(mid)
        return mid

    # -- observing ----------------------------------------------------------------------

    def done_ids(self) -> set[str]:
        return {str(body["source_id"]) for event, body, _ in self.tap.drain()
                if event in ("registered", "rejected", "failed") and body.get("source_id")}

    def dead_ids(self) -> set[str]:
        mids = {mid for mid, _ in dead_letters(self.direct)}
        return {sid for mid in mids for sid in self.message_ids.get(str(mid), [])}

    def settle(self, timeout: float = 30.0, *, dead: int = 0) -> None:
        """Wait until every sent record has its outcome event and ``dead`` messages are in
        the dead queue (heal first)."""
        wanted = {str(r["source_id"]) for r in self.sent}

        def finished() -> bool:
            missing = wanted - self.done_ids()
            if not missing and not dead:
                return True
            # Only then look into the dead queue (a connection per look).
            letters = dead_letters(self.direct)
            gone = {sid for mid, _ in letters for sid in self.message_ids.get(str(mid), [])}
            return missing <= gone and len(letters) >= dead
        try:
            wait_for(finished, timeout=timeout, what=f"{len(wanted)} records settled",
                     interval=0.3)
        except AssertionError as exc:   # why: the daemon's threads, warnings, store
            missing = len(wanted - self.done_ids())
            raise AssertionError(f"{exc} ({missing} without an outcome event)\n"
                                 + account(self.logs, self.store_url, format_stacks())) from None

    def failed_ids(self) -> set[str]:
        return {str(body["source_id"]) for event, body, _ in self.tap.drain()
                if event == "failed" and body.get("source_id")}

    def verdict(self, *, pending: set[str] | None = None,
                logs: bool | list[dict[str, Any]] = True) -> Verdict:
        time.sleep(0.3)   # a duplicate still on its way gets its chance to show up
        return check(self.sent, meldingen=control(self.sim, "meldingen"),
                     ledger=control(self.sim, "ledger"), events=self.tap.drain(),
                     dead=self.dead_ids(), failed=self.failed_ids(), pending=pending or set(),
                     logs=logs if isinstance(logs, list) else self.logs if logs else None)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            for proxy in self.proxies:
                proxy.close()
            if self._tap is not None:
                try:
                    self._tap.close()
                except pika.exceptions.AMQPError:
                    pass


@pytest.fixture()
def rig(pki_dir: Path, vhost: str, simulator: SimulatorServer, tmp_path: Path,
        request: pytest.FixtureRequest) -> Iterator[Rig]:
    the_rig = Rig(pki_dir, vhost, simulator, tmp_path, request.node.name)
    with capture_logs() as logs:
        the_rig.logs = logs
        try:
            yield the_rig
        finally:
            the_rig.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a ``fault`` test with a timeout of its own, and fails
    when a thread dies of an exception."""
    for item in items:
        if "/faults/" in str(item.path).replace("\\", "/") + "/" and item.path.name.startswith(
                "test_"):
            item.add_marker(pytest.mark.fault)
            # A daemon thread that dies of an exception fails the test (it would stop
            # that part of the daemon for good).
            item.add_marker(pytest.mark.filterwarnings(
                "error::pytest.PytestUnhandledThreadExceptionWarning"))
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(90))
