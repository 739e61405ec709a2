"""Alert once: one error event when a system fault starts, one when it ends.

The daemon's parts meet the same fault over and over while it lasts (the
submitter pauses every ``pause_seconds``, the poller polls, the intake gives
every delivery back while the store is down). Their own events say what each
of them did (at warning); :class:`FaultAlarm`, one instance shared by all
parts, turns the faults into a pair of events for alerting:

- ``system_fault_started`` (error): the first ``fault(kind, error)`` while
  ``kind`` is not faulty; ``fault`` (the kind), ``error`` (exception class),
  ``detail``, ``part`` (who met it)
- ``system_fault_ended`` (error too, so an alert can pair it): the first
  ``ok(kind)`` after that; ``duration_s``, ``repeats`` (faults met meanwhile)

Further faults of a faulty kind are logged at debug
(``system_fault_continues``), further ``ok`` calls not at all: ``ok`` is cheap
(a lock and a dict look-up) and may be called after every success.

Kinds: ``duo`` (DUO unreachable, TLS, faults about our set-up), ``store``
(the store cannot be written), ``broker`` (the inbox consumer lost RabbitMQ),
``certificates`` (submissions held for a certificate).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

__all__ = ["FaultAlarm"]


@dataclass
class _Fault:
    since: float
    error: str
    repeats: int = 0


class FaultAlarm:
    """Which kinds of system fault are on; logs only the transitions. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: dict[str, _Fault] = {}

    def fault(self, kind: str, error: BaseException | str, **fields: object) -> bool:
        """A ``kind`` fault was met; True when it starts now (``system_fault_started``)."""
        name = error if isinstance(error, str) else type(error).__name__
        with self._lock:
            current = self._faults.get(kind)
            if current is None:
                self._faults[kind] = _Fault(self._clock(), name)
            else:
                current.repeats += 1
        if current is None:
            detail = "" if isinstance(error, str) else str(error)[:200]
            log.error("system_fault_started", fault=kind, error=name, detail=detail, **fields)
            return True
        log.debug("system_fault_continues", fault=kind, error=name, **fields)
        return False

    def ok(self, kind: str, **fields: object) -> bool:
        """``kind`` works (again); True when a fault ends now (``system_fault_ended``)."""
        with self._lock:
            current = self._faults.pop(kind, None)
        if current is None:
            return False
        log.error("system_fault_ended", fault=kind, error=current.error,
                  duration_s=round(self._clock() - current.since, 1),
                  repeats=current.repeats, **fields)
        return True

    def active(self) -> dict[str, str]:
        """``{kind: first error}`` of the faults that are on."""
        with self._lock:
            return {kind: f.error for kind, f in self._faults.items()}
