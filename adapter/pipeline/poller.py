"""Feedback poller: asks DUO for changed reports since the stored watermark.

Each page is applied in one store transaction together with the new
watermark, so a crash between pages repeats at most one page, and the store's
unique (meldingsnummer, mutation) key turns a repeat into a no-op. Reports in
the feed that the adapter never sent (typed into DUO's web counter) are stored
as web reports and published to ``web_vendor`` when the store knows no SIS for
their BRIN (:mod:`adapter.store.terugmeldingen`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from adapter.duo.port import DuoPort
from adapter.errors import AdapterError, StoreUnavailable, SystemFault
from adapter.pipeline.alerts import FaultAlarm
from adapter.store import Store
from adapter.store.leases import LeaseLost

log = structlog.get_logger(__name__)


class FeedbackPoller:
    """Polls ``opvragenGewijzigdeVerzuimmeldingen`` for each configured BRIN."""

    def __init__(self, store: Store, client: DuoPort, brins: list[str], *, interval: float,
                 on_events: Callable[[], None] = lambda: None, max_pages: int = 50,
                 paused: Callable[[], bool] = lambda: False,
                 web_vendor: str = "canonical",
                 lead: Callable[[], int | None] | None = None,
                 resign: Callable[[], None] = lambda: None, lead_every: float = 5.0,
                 lease_name: str = "feedback_poller", alarm: FaultAlarm | None = None) -> None:
        """``lead`` takes or renews the poller's lease (replicas: one poller at a time)
        and returns its epoch, or None while another replica holds it; it is asked
        every ``lead_every`` seconds and before each page, only the holder polls, and
        each page commits only in the epoch it was fetched in (``lease_name``, fenced
        by the store). ``resign`` hands the lease over when the poller stops. Without
        ``lead`` this poller always polls (one process, no lease). ``alarm``:
        ``system_fault_started``/``ended``, shared by the daemon."""
        self._alarm = alarm or FaultAlarm()
        self._store = store
        self._client = client
        self._brins = brins
        self._interval = interval
        self._on_events = on_events
        self._max_pages = max_pages
        self._paused = paused
        self._web_vendor = web_vendor
        self._lead, self._resign, self._lead_every = lead, resign, lead_every
        self._lease_name = lease_name
        self.leading = False
        self.epoch: int | None = None
        self._wake = threading.Event()
        self.last_poll_ok: bool | None = None

    def wake(self) -> None:
        """Poll now instead of at the next interval."""
        self._wake.set()

    def set_client(self, client: DuoPort) -> None:
        """Use a new DUO client from the next poll on (certificate reload)."""
        self._client = client

    def run(self, stop: threading.Event) -> None:
        due = 0.0
        while not stop.is_set():
            woken = self._wake.is_set()
            self._wake.clear()
            if self._leads() and (woken or time.monotonic() >= due):
                for brin in self._brins:
                    if stop.is_set() or self._paused() or not self._leads():
                        break
                    self.poll_once(brin)
                due = time.monotonic() + self._interval
            self._wake.wait(min(self._interval, self._lead_every))
        if self.leading:
            try:
                self._resign()
            except AdapterError as exc:
                log.warning("poller_lease_not_released", error=type(exc).__name__)
            self.leading = False

    def _leads(self) -> bool:
        """Whether this replica holds the poller's lease now (taken or renewed here)."""
        if self._lead is None:
            return True
        try:
            epoch = self._lead()
        except AdapterError as exc:
            log.warning("poller_lease_unknown", error=type(exc).__name__)
            epoch = None
        if epoch != self.epoch:
            if epoch is not None:
                log.info("poller_lease_acquired", epoch=epoch)
            else:
                log.warning("poller_lease_lost", epoch=self.epoch)
        self.epoch, self.leading = epoch, epoch is not None
        return self.leading

    def poll_once(self, brin: str) -> int:
        """Fetch and apply all pages for one BRIN; returns the number of new events."""
        name = f"feedback:{brin}"
        total = 0
        try:
            since = self._store.get_watermark(name)
            for _ in range(self._max_pages):
                if self._lead is not None and not self._leads():
                    return total
                fence = (self._lease_name, self.epoch) if self.epoch is not None else None
                page = self._client.opvragen_gewijzigd(brin=brin, since=since)
                total += self._store.apply_feedback(page.items, watermark=page.next_since,
                                                    name=name, brin=brin,
                                                    default_vendor=self._web_vendor,
                                                    lease=fence)
                since = page.next_since
                if not page.more:
                    break
        except LeaseLost:
            # Another replica took the lease over while this page was fetched: its
            # poller goes on from the stored watermark; nothing of this page was kept.
            log.warning("poller_lease_lost", epoch=self.epoch)
            self.epoch, self.leading = None, False
            return total
        except SystemFault as exc:
            self.last_poll_ok = False
            log.warning("feedback_poll_failed", brin=brin, error=str(exc), fault="system")
            self._alarm.fault("store" if isinstance(exc, StoreUnavailable) else "duo", exc,
                              part="poller")
            return total
        except AdapterError as exc:
            self.last_poll_ok = False
            log.warning("feedback_poll_failed", brin=brin, error=type(exc).__name__)
            return total
        self.last_poll_ok = True
        self._alarm.ok("duo")
        if total:
            log.info("feedback_received", brin=brin, events=total, epoch=self.epoch)
            self._on_events()
        return total
