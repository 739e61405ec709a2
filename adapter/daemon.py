"""The daemon: consumer → intake → store → submitter → DUO; poller → outbox → relay.

Threads (each a loop that ends when its stop event is set):

- ``consumer``: AMQP deliveries to :class:`~adapter.intake.Intake`, acked after commit
- ``submitter``: claims due rows and calls DUO on a bounded pool
- ``poller``: DUO feedback since the watermark into the outbox
- ``relay``: outbox rows to ``verzuim.adapter`` with publisher confirms

Shutdown (SIGTERM/SIGINT) runs in that order: stop consuming (in-flight delivery
finished, acks flushed), let DUO calls in flight finish, stop polling, publish
what the outbox holds, close the store. Rows never claimed stay in the store.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

import structlog

from adapter.config import Settings
from adapter.duo import DuoClient
from adapter.feedback import FeedbackPoller
from adapter.health import HealthServer
from adapter.intake import Intake
from adapter.pki.certs import check_key_permissions
from adapter.plugins import VendorRegistry, load_vendors
from adapter.sis import Consumer, OutboxRelay
from adapter.store import Store
from adapter.submitter import Submitter

log = structlog.get_logger(__name__)


class Daemon:
    """All parts of the running adapter, started and stopped together."""

    def __init__(self, settings: Settings, *, vendors: VendorRegistry | None = None,
                 store: Store | None = None) -> None:
        self.settings = settings
        self.vendors = vendors or load_vendors(enabled=settings.plugins.enabled)
        check_key_permissions(settings.duo.client_key)
        self.store = store or Store.open(settings.store.url)
        self.client = DuoClient(settings.duo, settings.school,
                                exchange_sink=self.store.record_exchange)
        self.relay = OutboxRelay(settings.amqp, self.store.pending_events,
                                 self.store.mark_published, self._render)
        self.submitter = Submitter(settings.duo, self.store, self.client,
                                   on_result=self.relay.wake)
        self.poller = FeedbackPoller(self.store, self.client, [settings.school.brin],
                                     interval=settings.duo.poll_interval,
                                     on_events=self.relay.wake)
        self.intake = Intake(settings, self.store, self.vendors, on_committed=self._committed)
        self.consumer = Consumer(settings.amqp, self.intake.handle, on_state=self._amqp_state)
        self.amqp_connected = False
        self.health: HealthServer | None = None
        self._stops: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}

    def _render(self, event: Any) -> tuple[bytes, str]:
        return self.vendors.get(event.vendor).from_duo(event)

    def _committed(self) -> None:
        self.relay.wake()
        self.submitter.wake()

    def _amqp_state(self, state: str) -> None:
        self.amqp_connected = state == "connected"

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
        self._stops[name] = stop
        self._threads[name] = thread
        thread.start()

    def start(self) -> None:
        log.info("daemon_starting", vendors=self.vendors.names(), brin=self.settings.school.brin)
        if self.settings.health.port:
            self.health = HealthServer(self.settings.health.host, self.settings.health.port,
                                       self.readiness)
            self.health.start()
        self._spawn("relay", self.relay.run)
        self._spawn("submitter", self.submitter.run)
        self._spawn("poller", self.poller.run)
        self._spawn("consumer", self.consumer.run)
        log.info("daemon_started")

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """Ready when the broker is connected and submissions are not paused."""
        details: dict[str, object] = {"amqp_connected": self.amqp_connected,
                                      "submissions_paused": not self.submitter.healthy,
                                      "last_poll_ok": self.poller.last_poll_ok}
        if self.submitter.pause_reason:
            details["pause_reason"] = self.submitter.pause_reason
        return self.amqp_connected and self.submitter.healthy, details

    def stop(self, timeout: float = 60.0) -> None:
        """Stop in dependency order; each part gets ``timeout`` seconds."""
        log.info("daemon_stopping")
        for name in ("consumer", "submitter", "poller", "relay"):
            if name == "relay":
                self.relay.wake()
            stop = self._stops.get(name)
            if stop is None:
                continue
            stop.set()
            if name == "poller":
                self.poller.wake()
            self._threads[name].join(timeout)
            if self._threads[name].is_alive():
                log.error("daemon_part_did_not_stop", part=name)
        if self.health is not None:
            self.health.stop()
        self.client.close()
        self.store.close()
        log.info("daemon_stopped")

    def run_forever(self) -> int:
        """Start, wait for SIGTERM/SIGINT, stop; returns the process exit code."""
        done = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
            done.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        failed = False
        while not done.wait(1.0):
            for name, thread in self._threads.items():
                if not thread.is_alive() and not self._stops[name].is_set():
                    log.error("daemon_part_died", part=name)
                    failed = True
                    done.set()
        self.stop()
        return 1 if failed else 0
