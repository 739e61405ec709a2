"""Retention job: applies ``[retention]`` once a day in its own thread.

The first run is ``first_delay`` seconds after start (so start-up is not slowed),
then every 24 hours. Each run is one ``archive_purged`` log event with counts per
table (never a report or a student); a store fault is ``archive_purge_failed`` and
the next day tries again. ``verzuim-adapter archive purge`` runs the same policy
on demand.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import structlog

from adapter.config import RetentionSettings
from adapter.errors import AdapterError
from adapter.store import Store

log = structlog.get_logger(__name__)
DAY = 24 * 3600.0


def purge(store: Store, settings: RetentionSettings, now: datetime, *, dry_run: bool = False,
          progress: Callable[[int], None] = lambda n: None) -> Counter[str]:
    """One application of the policy; logs ``archive_purged`` and returns the counts."""
    cutoff, horizon = settings.cutoffs(now)
    counts = store.purge(cutoff=cutoff, horizon=horizon, dry_run=dry_run, progress=progress)
    log.info("archive_purged", dry_run=dry_run, years=settings.years,
             **{name: counts.get(name, 0) for name in sorted(counts)})
    return counts


class RetentionJob:
    """Runs :func:`purge` daily until stopped."""

    def __init__(self, settings: RetentionSettings, store: Store, *,
                 clock: Callable[[], datetime], first_delay: float = 60.0) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._first_delay = first_delay

    def run(self, stop: threading.Event) -> None:
        wait = self._first_delay
        while not stop.wait(wait):
            try:
                purge(self._store, self._settings, self._clock())
            except AdapterError as exc:
                log.warning("archive_purge_failed", error=type(exc).__name__)
            wait = DAY
