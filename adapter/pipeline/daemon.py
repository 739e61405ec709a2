"""The daemon: consumer → intake → store → submitter → DUO; poller → outbox → relay.

Threads (each a loop that ends when its stop event is set):

- ``consumer``: AMQP deliveries to :class:`~adapter.pipeline.intake.Intake`, acked after commit
- ``submitter``: claims due rows and calls DUO on a bounded pool
- ``poller``: DUO feedback since the watermark into the outbox
- ``relay``: outbox rows to ``verzuim.adapter`` with publisher confirms
- ``certificates``: expiry and revocation checks (ours and DUO's server
  certificate); an unusable or revoked certificate holds submissions
- ``signaler``: the school's registrations evaluated for signals (``[signals]``)
- ``retention``: the ``[retention]`` policy applied once a day
- ``attachments``: stored attachments sent with ``aanleverenBijlage`` once their
  report is registered

SIGHUP reloads the certificates (:class:`~adapter.pki.guard.CertificateGuard`):
when the files are usable, a new DUO client replaces the old one and held
submissions resume.

Shutdown (SIGTERM/SIGINT) runs in that order: stop consuming (in-flight delivery
finished, or — for a large export — given back to the broker after the chunk in
progress is committed; acks flushed), let DUO calls in flight finish, stop polling, publish
what the outbox holds, close the store. Rows never claimed stay in the store.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from adapter import startup
from adapter.config import Settings
from adapter.domain.calendar import holidays_known_until
from adapter.duo.client import DuoClient, check_settings
from adapter.duo.port import DuoPort, exchange_sink
from adapter.duo.worker import WorkerClient
from adapter.logging import named
from adapter.pipeline import stacks
from adapter.pipeline.alerts import FaultAlarm
from adapter.pipeline.attachments import AttachmentSender
from adapter.pipeline.health import HealthServer
from adapter.pipeline.intake import Intake, today_in_nl
from adapter.pipeline.poller import FeedbackPoller
from adapter.pipeline.retention import RetentionJob
from adapter.pipeline.signaler import Signaler
from adapter.pipeline.submitter import Submitter
from adapter.pki.guard import CertificateGuard
from adapter.pki.identity import Credentials
from adapter.sis.consumer import Consumer
from adapter.sis.publisher import OutboxRelay
from adapter.store import Store
from adapter.store.keys import open_store
from adapter.vendors import VendorRegistry, load_vendors

log = structlog.get_logger(__name__)
#: The named lease of the feedback poller: one replica polls DUO at a time.
POLLER_LEASE = "feedback_poller"


class Daemon:
    """All parts of the running adapter, started and stopped together."""

    def __init__(self, settings: Settings, *, environ: Mapping[str, str] | None = None,
                 vendors: VendorRegistry | None = None, store: Store | None = None) -> None:
        """Build every part; raises ConfigError when the certificate is unusable.

        ``environ`` is the process environment, read at the edge (key passphrases).
        """
        self.settings = settings
        # One alarm for all parts: system_fault_started/ended once per fault, not per attempt.
        self.alarm = FaultAlarm()
        self.certificates = CertificateGuard(settings, environ or {},
                                             on_unusable=self._hold, on_reloaded=self._reloaded,
                                             on_usable=self._usable)
        credentials = self.certificates.load_checked()
        self.vendors = vendors or load_vendors(enabled=settings.plugins.enabled,
                                              config=settings.plugins.config,
                                              calendars=settings.school_calendars())
        self.store = store or open_store(settings.store, environ or {})
        self.client = self._new_client(credentials)
        self.relay = OutboxRelay(settings.amqp, self.store.pending_events,
                                 self.store.mark_published, self._render,
                                 probe=self.store.first_pending_events)
        # The claims' lease, for submissions and attachments alike; the submitter and
        # the attachment sender renew and recover every third of it.
        self.store.claim_lease = timedelta(seconds=settings.store.claim_lease_seconds)
        self.attachments = AttachmentSender(settings.duo, self.store, self.client,
                                            on_result=self.relay.wake, alarm=self.alarm)
        self.submitter = Submitter(settings.duo, self.store, self.client,
                                   on_result=self._sent, alarm=self.alarm)
        leader = settings.store.leader_lease_seconds
        self.poller = FeedbackPoller(self.store, self.client,
                                     [school.brin for school in settings.all_schools],
                                     interval=settings.duo.poll_interval,
                                     on_events=self.relay.wake,
                                     paused=lambda: self.submitter.held is not None,
                                     web_vendor=_web_vendor(settings, self.vendors),
                                     lead=lambda: self.store.take_lease(POLLER_LEASE,
                                                                        seconds=leader),
                                     resign=lambda: self.store.drop_lease(POLLER_LEASE),
                                     lead_every=leader / 3, lease_name=POLLER_LEASE,
                                     alarm=self.alarm)
        self.signaler = Signaler(settings.signals, self.store, settings.school_calendars(),
                                 today=today_in_nl, clock=lambda: datetime.now(UTC),
                                 on_events=self.relay.wake)
        self.retention = RetentionJob(settings.retention, self.store,
                                      clock=lambda: datetime.now(UTC))
        self.intake = Intake(settings, self.store, self.vendors, on_committed=self._committed,
                             stopping=lambda: self.consumer.stopping, alarm=self.alarm)
        self.consumer = Consumer(settings.amqp, self.intake.handle,
                                 handle_many=self.intake.handle_many, on_state=self._amqp_state)
        self.amqp_connected = False
        self.health: HealthServer | None = None
        self._stops: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}

    def _new_client(self, credentials: Credentials) -> DuoPort:
        sink = exchange_sink(self.store.record_exchange)
        if not self.settings.duo.worker_process:
            return DuoClient(self.settings.duo, self.settings.school,
                             schools=self.settings.all_schools, credentials=credentials,
                             exchange_sink=sink)
        # A certificate, key or setting DUO's client cannot use is a ConfigError here, at
        # start-up (or at a reload), not at the worker's first call.
        check_settings(self.settings.duo, credentials)
        return WorkerClient(self.settings.duo, self.settings.school,
                            schools=self.settings.all_schools, credentials=credentials,
                            exchange_sink=sink)

    def _hold(self, reason: str) -> None:
        self.alarm.fault("certificates", reason, part="certificates")
        self.submitter.hold(reason)
        self.attachments.held = True

    def _usable(self) -> None:
        """The certificates in use are usable again (a revocation is gone): end the hold."""
        self.attachments.held = False
        self.submitter.resume()
        self.alarm.ok("certificates")

    def _sent(self) -> None:
        """A submission settled: its events may go, and its report's attachments."""
        self.relay.wake()
        self.attachments.wake()

    def _reloaded(self, credentials: Credentials) -> None:
        old, self.client = self.client, self._new_client(credentials)
        self.poller.set_client(self.client)
        self.attachments.set_client(self.client)
        self.attachments.held = False
        self.submitter.resume(self.client)
        self.alarm.ok("certificates")
        # Calls in flight keep their reference to the old client; its session is
        # left to the garbage collector rather than closed under them.
        del old

    def reload(self) -> bool:
        """SIGHUP: reload the certificates; True when the new ones are in use."""
        return self.certificates.reload()

    def _render(self, event: Any) -> tuple[bytes, str]:
        return self.vendors.get(event.vendor).from_duo(event)

    def _committed(self) -> None:
        self.relay.wake()
        self.submitter.wake()
        self.signaler.wake()
        self.attachments.wake()

    def _amqp_state(self, state: str) -> None:
        self.amqp_connected = state == "connected"
        if self.amqp_connected:
            self.alarm.ok("broker")
        elif not (self._stops.get("consumer") or threading.Event()).is_set():
            self.alarm.fault("broker", "amqp_connection_lost", part="consumer")

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=named(target), args=(stop,), name=name, daemon=True)
        self._stops[name] = stop
        self._threads[name] = thread
        thread.start()

    def start(self) -> None:
        log.info("daemon_starting", vendors=self.vendors.names(), brin=self.settings.school.brin,
                 replica=self.store.replica)
        self.store.hold_for_daemon()     # a second daemon on one SQLite file is refused
        if today_in_nl() > holidays_known_until():
            # Past the packaged data every weekday is a school day unless configured.
            log.warning("school_holidays_unknown", known_until=holidays_known_until().isoformat())
        if self.settings.health.port:
            self.health = HealthServer(self.settings.health.host, self.settings.health.port,
                                       self.readiness, self.gauges)
            self.health.start()
        # Held V4 reports the configured regional agreements now let go are queued
        # before the submitter starts ([[municipalities]], adapter.store.regions).
        self.store.release_held(self.settings.regional_agreements())
        self._spawn("relay", self.relay.run)
        self._spawn("submitter", self.submitter.run)
        self._spawn("poller", self.poller.run)
        self._spawn("attachments", self.attachments.run)
        self._spawn("consumer", self.consumer.run)
        self._spawn("certificates", self.certificates.run)
        if self.settings.signals.enabled:
            self._spawn("signaler", self.signaler.run)
        if self.settings.retention.enabled:
            self._spawn("retention", self.retention.run)
        log.info("daemon_started", certificate_days_left=dict(self.certificates.days_left))

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """Ready when the broker is connected and submissions are not paused."""
        details: dict[str, object] = {"amqp_connected": self.amqp_connected,
                                      "submissions_paused": not self.submitter.healthy,
                                      "last_poll_ok": self.poller.last_poll_ok,
                                      "certificate_days_left": dict(self.certificates.days_left)}
        if self.submitter.pause_reason or self.submitter.held:
            details["pause_reason"] = self.submitter.held or self.submitter.pause_reason
        return self.amqp_connected and self.submitter.healthy, details

    def gauges(self) -> dict[str, tuple[str, list[tuple[dict[str, str], float]]]]:
        """Metrics for ``/metrics``, read at scrape time."""
        counts = self.store.counts()
        return {
            "verzuim_ready": ("1 when the adapter can work (see /readyz)",
                              [({}, float(self.readiness()[0]))]),
            "verzuim_certificate_days_left": (
                "Days until the DUO certificate expires",
                [({"use": use}, float(days)) for use, days in self.certificates.days_left.items()]),
            "verzuim_submissions": (
                "Submissions per state",
                [({"state": state}, float(n)) for state, n in counts["submissions"].items()]),
            "verzuim_outbox_pending": ("Events not yet confirmed by the broker",
                                       [({}, float(counts["outbox"].get("pending", 0)))]),
            "verzuim_signals_open": (
                "Open signals per kind",
                [({"signaal": kind}, float(n)) for (kind, state), n
                 in sorted(self.store.signal_counts().items()) if state == "open"]),
            "verzuim_signals_raised": (
                "Signals raised by this process per kind",
                [({"signaal": kind}, float(n)) for kind, n in sorted(self.signaler.raised.items())]),
        }

    def stop(self, timeout: float = 60.0) -> None:
        """Stop in dependency order; each part gets ``timeout`` seconds."""
        log.info("daemon_stopping")
        for name in ("consumer", "signaler", "retention", "certificates", "submitter",
                     "attachments", "poller", "relay"):
            if name == "relay":
                self.relay.wake()
            stop = self._stops.get(name)
            if stop is None:
                continue
            stop.set()
            if name == "poller":
                self.poller.wake()
            if name == "signaler":
                self.signaler.wake()
            if name == "attachments":
                self.attachments.wake()
            if name == "certificates":
                self.certificates.wake()
            self._threads[name].join(timeout)
            if self._threads[name].is_alive():
                log.error("daemon_part_did_not_stop", part=name)
        if self.health is not None:
            self.health.stop()
        self.client.close()
        self.store.close()
        log.info("daemon_stopped")

    def run_forever(self) -> int:
        """Start, serve SIGHUP (reload), stop on SIGTERM/SIGINT, dump every thread's stack
        to stderr on SIGUSR1; returns the exit code."""
        stop_wanted = threading.Event()
        reload_wanted = threading.Event()
        wake = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
            (reload_wanted if signum == signal.SIGHUP else stop_wanted).set()
            wake.set()

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, on_signal)
        for held in startup.take():   # a stop that came while the program started
            on_signal(held, None)
        # SIGUSR1: every thread's stack on stderr (files, lines and function names,
        # never a value), for a daemon that seems stuck; it goes on running.
        stacks.install(signal.SIGUSR1)
        if stop_wanted.is_set():
            self.stop()      # nothing started yet: closes the store and the client
            return 0
        self.start()
        failed = False
        while not stop_wanted.is_set():
            wake.wait(1.0)
            wake.clear()
            if reload_wanted.is_set() and not stop_wanted.is_set():
                reload_wanted.clear()
                self.reload()
            for name, thread in self._threads.items():
                if not thread.is_alive() and not self._stops[name].is_set():
                    log.error("daemon_part_died", part=name)
                    failed = True
                    stop_wanted.set()
        self.stop()
        return 1 if failed else 0


def _web_vendor(settings: Settings, vendors: VendorRegistry) -> str:
    """The vendor told about a web report at a BRIN the store knows no SIS for yet:
    the first enabled vendor, else ``canonical``, else the first registered one."""
    names = vendors.names()
    if settings.plugins.enabled:
        return settings.plugins.enabled[0]
    return "canonical" if "canonical" in names or not names else names[0]
