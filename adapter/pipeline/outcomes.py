"""Registrations waiting to be stored together (the submitter's write-behind).

A call DUO answered with a registration frees its pool slot at once; its outcome waits
here, still claimed by this replica, for one transaction with the registrations of the
calls that ended about the same time (:meth:`adapter.store.Store.mark_registered_many`).
One commit then serves several calls, and the relay and the attachment sender are woken
once for all of them.

The submitter's claim loop writes what waits (:meth:`Outcomes.due`) when as many wait as
the pool has slots, when the oldest has waited ``linger`` seconds, or when no call is in
flight (nothing else will come to share the commit). Until then the submission stays
``submitting`` under a claim this replica renews, and the student's next report is not
claimed: a crash meanwhile leaves it to be reconciled by its document id at the next
start, exactly as a crash between DUO's answer and the commit always did. Nothing is
sent twice and the per-student order holds.
"""

from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass

from adapter.store import Claim, Registration


@dataclass(frozen=True)
class Registered:
    """One registration waiting: the claim, what to store, and how to say it.

    ``reconciled``: found by a look-up (logged ``report_reconciled`` once stored, else
    ``report_registered``); ``context``: the record's log context, to say it in;
    ``since``: monotonic time."""

    claim: Claim
    registration: Registration
    reconciled: bool
    context: contextvars.Context
    since: float


class Outcomes:
    """A thread-safe list of :class:`Registered`, taken whole by the claim loop."""

    def __init__(self, *, size: int, linger: float) -> None:
        """``size``: this many waiting are written at once; ``linger``: the longest, in
        seconds, the oldest waits for others while calls are in flight."""
        self._size = max(1, size)
        self._linger = linger
        self._lock = threading.Lock()
        self._items: list[Registered] = []
        self._ids: set[int] = set()

    def add(self, item: Registered) -> bool:
        """Keep ``item``; True when it is the only one waiting (the claim loop then
        sets its clock by it)."""
        with self._lock:
            self._items.append(item)
            self._ids.add(item.claim.submission_id)
            return len(self._items) == 1

    def holds(self, submission_id: int) -> bool:
        """Whether this submission's registration waits here (not stored yet)."""
        with self._lock:
            return submission_id in self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def full(self) -> bool:
        """Whether as many wait as are written at once (due whatever the time)."""
        with self._lock:
            return len(self._items) >= self._size

    def due(self, *, in_flight: int) -> bool:
        """Whether what waits should be written now (see the module's docstring)."""
        with self._lock:
            if not self._items:
                return False
            return (in_flight == 0 or len(self._items) >= self._size
                    or time.monotonic() - self._items[0].since >= self._linger)

    def wait(self, longest: float) -> float:
        """Seconds the claim loop may sleep before the oldest waiting is due (at most
        ``longest``)."""
        with self._lock:
            if not self._items:
                return longest
            left = self._items[0].since + self._linger - time.monotonic()
        return max(0.0, min(longest, left))

    def put_back(self, items: list[Registered]) -> None:
        """Return what :meth:`take` gave (its transaction could not be made), before
        anything added since: the oldest stay first."""
        with self._lock:
            self._items[:0] = items
            self._ids.update(item.claim.submission_id for item in items)

    def take(self) -> list[Registered]:
        """Everything waiting, oldest first; the list is empty afterwards."""
        with self._lock:
            items, self._items = self._items, []
            self._ids.clear()
        return items
