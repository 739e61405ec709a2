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
from collections.abc import Callable

import structlog

from adapter.duo.port import DuoPort
from adapter.errors import AdapterError, StoreUnavailable, SystemFault
from adapter.pipeline.alerts import FaultAlarm
from adapter.store import Store

log = structlog.get_logger(__name__)


class FeedbackPoller:
    """Polls ``opvragenGewijzigdeVerzuimmeldingen`` for each configured BRIN."""

    def __init__(self, store: Store, client: DuoPort, brins: list[str], *, interval: float,
                 on_events: Callable[[], None] = lambda: None, max_pages: int = 50,
                 paused: Callable[[], bool] = lambda: False,
                 web_vendor: str = "canonical", alarm: FaultAlarm | None = None) -> None:
        self._alarm = alarm or FaultAlarm()   # system_fault_started/ended, shared by the daemon
        self._store = store
        self._client = client
        self._brins = brins
        self._interval = interval
        self._on_events = on_events
        self._max_pages = max_pages
        self._paused = paused
        self._web_vendor = web_vendor
        self._wake = threading.Event()
        self.last_poll_ok: bool | None = None

    def wake(self) -> None:
        """Poll now instead of at the next interval."""
        self._wake.set()

    def set_client(self, client: DuoPort) -> None:
        """Use a new DUO client from the next poll on (certificate reload)."""
        self._client = client

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            for brin in self._brins:
                if stop.is_set() or self._paused():
                    break
                self.poll_once(brin)
            self._wake.wait(self._interval)
            self._wake.clear()

    def poll_once(self, brin: str) -> int:
        """Fetch and apply all pages for one BRIN; returns the number of new events."""
        name = f"feedback:{brin}"
        total = 0
        try:
            since = self._store.get_watermark(name)
            for _ in range(self._max_pages):
                page = self._client.opvragen_gewijzigd(brin=brin, since=since)
                total += self._store.apply_feedback(page.items, watermark=page.next_since,
                                                    name=name, brin=brin,
                                                    default_vendor=self._web_vendor)
                since = page.next_since
                if not page.more:
                    break
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
            log.info("feedback_received", brin=brin, events=total)
            self._on_events()
        return total
