"""Signaler: evaluates the school's registrations for signals, in its own thread.

Every ``signals.interval`` seconds (sooner when intake stored something, but at
most every :data:`MIN_GAP` seconds) it evaluates the students whose registrations
or reports changed since the last round (with an overlap: a transaction that
started before the round may commit after it; evaluating a student twice raises
nothing twice, and a student whose changes in the overlap were all seen by the last
round is not evaluated again), and once a day every student, for the rules that depend on the
date alone (a deadline passed, an einddatum still missing). What it raises goes
to the outbox in the same transaction; ``on_events`` wakes the relay.

Logs ``signals_raised`` with counts by kind (never a student), and
``signals_failed`` with the error's type when the store is down (the next round
tries again).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta

import structlog

from adapter.config import SignalSettings
from adapter.domain.calendar import Calendars
from adapter.errors import AdapterError
from adapter.store import Store
from adapter.store.signals import Student

log = structlog.get_logger(__name__)
#: How far back each round looks beyond the previous one (see the module docstring):
#: longer than a store transaction takes from its timestamp to its commit.
OVERLAP = timedelta(seconds=30)
#: At least this long between two rounds, however often intake wakes the signaler
#: (a large export commits a chunk every second or so).
MIN_GAP = 5.0


class Signaler:
    """Runs :meth:`evaluate_once` every ``settings.interval`` seconds until stopped."""

    def __init__(self, settings: SignalSettings, store: Store, calendars: Calendars, *,
                 today: Callable[[], date], clock: Callable[[], datetime],
                 on_events: Callable[[], None] = lambda: None) -> None:
        self._settings = settings
        self._store = store
        self._calendars = calendars
        self._today = today
        self._clock = clock
        self._on_events = on_events
        self._since: datetime | None = None
        self._swept_on: date | None = None
        self._seen: dict[Student, frozenset[datetime]] = {}
        self._wake = threading.Event()
        #: Signals raised since start, by kind (``/metrics``).
        self.raised: Counter[str] = Counter()

    def wake(self) -> None:
        """Evaluate now (registrations were just stored)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.evaluate_once()
            except AdapterError as exc:
                log.warning("signals_failed", error=type(exc).__name__)
            if stop.wait(min(MIN_GAP, self._settings.interval)):
                break
            self._wake.wait(max(self._settings.interval - MIN_GAP, 0.0))
            self._wake.clear()

    def evaluate_once(self) -> Counter[str]:
        """One round; returns what it raised, by kind."""
        started = self._clock()
        today = self._today()
        seen: dict[Student, frozenset[datetime]] = {}
        if self._swept_on != today or self._since is None:
            students = self._store.signal_students(None)
        else:
            # The overlap brings back students evaluated in an earlier round; only those
            # with a change (a stamp) that round did not see are evaluated again.
            seen = self._store.signal_changes(self._since - OVERLAP)
            students = sorted(s for s, stamps in seen.items()
                              if not stamps <= self._seen.get(s, frozenset()))
        raised = self._store.evaluate_signals(
            students, calendars=self._calendars, today=today, count=self._settings.count,
            missing_einddatum_after_days=self._settings.missing_einddatum_after_days)
        self._since, self._swept_on, self._seen = started, today, seen
        if raised:
            self.raised += raised
            log.info("signals_raised", students=len(students), **dict(sorted(raised.items())))
            self._on_events()
        return raised
