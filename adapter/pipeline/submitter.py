"""Submitter: claims due submissions from the store and sends them to DUO.

One thread, the claim loop, claims due submissions (and unknown ones, to reconcile)
ahead, up to four times the pool, again once fewer than two per slot are ready, and
starts a pool slot for each free slot; a slot takes the next ready claim itself when its
call ends. Claims carry a lease, renewed here every third of it; claims whose lease ran
out (any replica's) are recovered.
What a call leads to, outcome by outcome, is :mod:`adapter.pipeline.sending`.

A :class:`SystemFault` (certificate, TLS set-up, the store away) releases the claim
(not counted) and pauses submissions until ``resume_after``; nothing is rejected or
dead-lettered. :meth:`Submitter.hold` stops claiming until :meth:`Submitter.resume`.

A registration (``registered``, found by a look-up) is stored write-behind: the call's
slot is free at once and its outcome is stored with those of the calls that ended about
the same time, in one transaction (:mod:`adapter.pipeline.outcomes`), before the
student's next report is claimed.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import structlog

from adapter.config import DuoSettings
from adapter.duo.port import (
    DuoPort,
    ExchangeRecord,
    for_submission,
    held_exchanges,
    holding_exchanges,
)
from adapter.errors import AdapterError, StoreUnavailable, SystemFault
from adapter.logging import in_context, name_native
from adapter.pipeline.alerts import FaultAlarm
from adapter.pipeline.faults import failpoint
from adapter.pipeline.outcomes import Outcomes, Registered
from adapter.pipeline.sending import ClaimHandling, settle
from adapter.store import Claim, Registration, Store

log = structlog.get_logger(__name__)

#: Claims taken ahead, per pool slot: one claim transaction serves this many calls.
CLAIM_AHEAD = 4
#: Claims ready, per pool slot, below which the loop claims again. At one per slot the
#: ready claims ran out while a claim transaction was under way (15-20 ms on PostgreSQL
#: in a burst): a slot ended its run and waited for the loop to start it again, 150-220
#: times in 3,000 reports; at two, 9-25 times (docs/performance.md, round 18).
CLAIM_AGAIN_BELOW = 2
#: Seconds a registration waits, while calls are in flight, for others to share its
#: transaction. At 40–60 calls a second 100 ms gathered four or five per transaction on
#: PostgreSQL, and the transaction's own cost dominated; 300 ms gathers twelve to
#: fifteen, at 0.5 ms less of the submitter's CPU per report (docs/performance.md).
WRITE_BEHIND = 0.3


class Submitter:
    """Runs the send loop in its own thread; DUO calls run on a bounded pool."""

    def __init__(self, settings: DuoSettings, store: Store, client: DuoPort, *,
                 on_result: Callable[[], None] = lambda: None, pause_seconds: float = 30.0,
                 idle_wait: float = 0.2, alarm: FaultAlarm | None = None,
                 write_behind: float = WRITE_BEHIND) -> None:
        """Claims hold for ``store.claim_lease`` unless renewed; this replica renews its
        claims and recovers expired ones (any replica's) every third of that.
        ``alarm``: ``system_fault_started``/``ended``, shared by the daemon.
        ``write_behind``: the longest a registration waits, while calls are in flight,
        to be stored with others (:mod:`adapter.pipeline.outcomes`)."""
        self._alarm = alarm or FaultAlarm()
        self._settings = settings
        self._store = store
        self._handling = ClaimHandling(settings, store, client, self._registered)
        self._on_result = on_result
        self._pause_seconds = pause_seconds
        self._idle_wait = idle_wait
        self._pool = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="duo",
                                        initializer=name_native)
        self._inflight: set[Future[None]] = set()
        self._ready: deque[Claim] = deque()     # claimed ahead, not started yet
        self._ready_lock = threading.Lock()     # _ready: taken by the loop and the slots
        # Fewer ready than this, and the loop claims again (never fewer than the free
        # slots: two per slot is more than the pool has).
        self._claim_below = CLAIM_AGAIN_BELOW * settings.max_concurrency
        self._stopping = False
        self._claimed: set[int] = set()          # ids of claims held: ready or in flight
        self._next_lease_work = 0.0
        self._lock = threading.Lock()
        self._claim_lock = threading.Lock()
        self._wake = threading.Event()
        self._next_reconcile = 0.0
        # Registrations waiting to be stored together; their claims stay in _claimed.
        self._outcomes = Outcomes(size=4 * settings.max_concurrency, linger=write_behind)
        self._store_again = 0.0     # monotonic: the store was away; try them again then
        self.paused_until: datetime | None = None
        self.pause_reason: str | None = None
        self.held: str | None = None

    @property
    def healthy(self) -> bool:
        return self.paused_until is None and self.held is None

    def hold(self, reason: str) -> None:
        """Stop claiming until :meth:`resume` (e.g. the certificate expired).

        Calls in flight finish; nothing is released, rejected or counted.
        """
        if self.held != reason:
            log.error("submissions_held", reason=reason)
        self.held = reason

    def resume(self, client: DuoPort | None = None) -> None:
        """End a hold and any pause; optionally switch to a new DUO client (reload)."""
        with self._claim_lock:
            if client is not None:
                self._handling.client = client
            was = self.held or self.pause_reason
            self.held = None
            self.paused_until = None
            self.pause_reason = None
        if was:
            log.info("submissions_resumed", after=was)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Claim and send until ``stop`` is set; then wait for calls in flight."""
        # One SQLite daemon at a time: every claim left is from a dead one. Replicas
        # on PostgreSQL: only claims whose lease ran out (a live replica's are renewed).
        recovered = (self._store.recover_expired() if self._store.shared
                     else self._store.recover_interrupted())
        if recovered:
            log.warning("submissions_interrupted_recovered", count=recovered)
        while not stop.is_set():
            self._lease_work()
            self._store_registered()
            if self._paused():
                self._release_ready()
                stop.wait(1.0)
                continue
            try:
                started = self._claim()
            except StoreUnavailable as exc:
                # The store went away between claims: pause, as for a failed call;
                # raising here would end this thread and every submission with it.
                with self._claim_lock:
                    self._pause(exc)
                continue
            if not started:
                self._wake.wait(self._outcomes.wait(self._idle_wait))
                self._wake.clear()
        with self._ready_lock:
            self._stopping = True
        self._release_ready()
        with self._lock:
            pending = list(self._inflight)
        for future in pending:
            future.result()
        self._pool.shutdown(wait=True)
        self._store_registered(now=True)

    def _lease_work(self) -> None:
        """Every third of the lease: renew the claims held here, and recover claims whose
        lease ran out (a replica died, or a claim here was dropped by a failing handler)."""
        if time.monotonic() < self._next_lease_work:
            return
        self._next_lease_work = time.monotonic() + self._store.lease_work_every
        with self._lock:
            held = sorted(self._claimed)
        try:
            self._store.renew_claims(held)
            self._store.recover_expired()
        except AdapterError as exc:
            log.warning("claim_leases_not_renewed", count=len(held), error=type(exc).__name__)

    def _release_ready(self) -> None:
        """Give back claims not started (pause, hold, stop): nothing was sent for them.
        Should the store be down, they stay ``submitting`` and the next start
        reconciles them (no second send without a look-up)."""
        with self._claim_lock:
            while (claim := self._pop_ready(always=True)) is not None:
                with self._lock:
                    self._claimed.discard(claim.submission_id)
                try:
                    self._store.release(claim.submission_id)
                except AdapterError as exc:
                    log.warning("claim_release_failed", submission_id=claim.submission_id,
                                error=type(exc).__name__)

    def _pop_ready(self, *, always: bool = False) -> Claim | None:
        """The oldest claim waiting to be sent; None when there is none, or (unless
        ``always``) when sending stopped: a pause, a hold or the end of the run."""
        with self._ready_lock:
            if not self._ready or not always and (
                    self._stopping or self.held is not None or self.paused_until is not None):
                return None
            return self._ready.popleft()

    def _paused(self) -> bool:
        if self.held is not None:
            return True
        if self.paused_until is None:
            return False
        if datetime.now(UTC) < self.paused_until:
            return True
        log.info("submissions_resumed")
        self.paused_until = None
        self.pause_reason = None
        return False

    def _claim(self) -> int:
        """Start work for free pool slots (reconciliations first) and keep claims ready
        for the slots to take next. Returns how many were claimed or started."""
        with self._lock:
            free = self._settings.max_concurrency - len(self._inflight)
        with self._claim_lock:  # a pause taken meanwhile is seen before claiming
            if self.paused_until is not None or self.held is not None:
                return 0
            work: list[tuple[Claim, Callable[[Claim], None]]] = []
            if free > 0 and time.monotonic() >= self._next_reconcile:
                # At most one reconciliation sweep a second, so a DUO that keeps
                # timing out on look-ups is not hammered in a tight loop.
                self._next_reconcile = time.monotonic() + 1.0
                work = [(c, self._handling.reconcile) for c in self._store.claim_unknown(limit=free)]
            ahead = CLAIM_AHEAD * self._settings.max_concurrency
            with self._ready_lock:
                waiting = len(self._ready)
            claimed: list[Claim] = []
            if waiting < self._claim_below:
                # Claim ahead, up to four times the pool: one claim transaction serves
                # several calls, and a slot that ends a call takes the next one itself.
                claimed = self._store.claim_due(limit=ahead - waiting)
            with self._lock:
                self._claimed.update(c.submission_id for c in claimed)
                self._claimed.update(c.submission_id for c, _ in work)
            with self._ready_lock:
                self._ready.extend(claimed)
            while len(work) < free and (claim := self._pop_ready()) is not None:
                work.append((claim, self._handling.send))
        for claim, fn in work:
            self._start(claim, fn)
        return len(work) + len(claimed)

    def _start(self, claim: Claim, fn: Callable[[Claim], None]) -> None:
        future = self._pool.submit(in_context(self._slot), claim, fn)
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(self._done)

    def _slot(self, claim: Claim, fn: Callable[[Claim], None]) -> None:
        """One pool slot's work: ``claim``, then the claims waiting ready, each in a
        context of its own, until none is left or sending stops. The slot takes the
        next claim itself: handing each over through the claim loop left the slot idle
        while that thread waited for the interpreter or a store transaction."""
        next_claim: Claim | None = claim
        while next_claim is not None:
            contextvars.copy_context().run(self._one, next_claim, fn)
            next_claim, fn = self._pop_ready(), self._handling.send

    def _one(self, claim: Claim, fn: Callable[[Claim], None]) -> None:
        try:
            with structlog.contextvars.bound_contextvars(
                    submission_id=claim.submission_id, report_id=claim.report_id,
                    document_id=claim.document_id, operation=claim.operation.value,
                    attempt=claim.attempt, vendor=claim.vendor):
                self._guarded(claim, fn)
        finally:
            with self._lock:
                if not self._outcomes.holds(claim.submission_id):  # else stored later
                    self._claimed.discard(claim.submission_id)
            if self._loop_needed():
                self._wake.set()

    def _loop_needed(self) -> bool:
        """Whether the claim loop has work now that a call ended: claims to take ahead
        (fewer than :data:`CLAIM_AGAIN_BELOW` per slot wait), registrations to store (as
        many as it writes at once), or a pause or hold to act on. Otherwise it sleeps
        on: it wakes for the oldest registration's linger (:meth:`_registered` wakes it
        to set that clock), and each needless wake made it and a DUO thread take turns
        at the interpreter for nothing."""
        if self.held is not None or self.paused_until is not None:
            return True
        with self._ready_lock:
            if len(self._ready) < self._claim_below:
                return True
        return self._outcomes.full()

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._inflight.discard(future)
        self._wake.set()

    def _guarded(self, claim: Claim, fn: Callable[[Claim], None]) -> None:
        try:
            # Exchanges are kept with the submission, stored in the transaction of the
            # outcome they led to (sending.settle); what no outcome took is stored here.
            with for_submission(claim.submission_id), holding_exchanges() as held:
                try:
                    fn(claim)
                finally:
                    self._keep(held)
        except SystemFault as exc:
            with self._claim_lock:
                self._pause(exc)
                try:
                    self._set_aside(claim, reconciling=fn == self._handling.reconcile, error=exc)
                except Exception as err:   # store down too: the claim stays submitting
                    log.warning("claim_set_aside_failed", error=type(err).__name__)
        except Exception as exc:  # a bug must not kill the loop; the row is retried
            log.error("submission_crashed", error=type(exc).__name__)
            try:
                self._handling.retry(claim, type(exc).__name__)
            except Exception as err:   # store down too: the claim stays submitting
                log.warning("claim_set_aside_failed", error=type(err).__name__)
        else:
            self._alarm.ok("duo")
            self._alarm.ok("store")
        finally:
            if not self._outcomes.holds(claim.submission_id):
                self._on_result()

    def _registered(self, claim: Claim, *, meldingsnummer: str, status: str,
                    laatste_mutatie: datetime, reconciled: bool = False) -> None:
        """DUO registered the claim: its outcome waits, with the call's exchanges and the
        record's log context, to be stored with others (:meth:`_store_registered`)."""
        held = held_exchanges()
        first = self._outcomes.add(Registered(
            claim, Registration(claim.submission_id, meldingsnummer, status, laatste_mutatie,
                                tuple(held)),
            reconciled, contextvars.copy_context(), time.monotonic()))
        held.clear()
        if first:   # the loop may sleep longer than this one may wait: it sets its clock
            self._wake.set()

    def _store_registered(self, *, now: bool = False) -> None:
        """Store the registrations waiting, in one transaction, once they are due (or
        ``now``). Should the store be away (:class:`SystemFault`), they keep waiting,
        still claimed, and submissions pause: the batch is tried again when the pause
        ends (a stop leaves them ``submitting``, reconciled at the next start). Should
        the transaction fail otherwise, each is stored on its own, with the handling of
        any outcome of a call (a bug retries the one)."""
        with self._lock:
            in_flight = 0 if now else len(self._inflight)
        if (time.monotonic() < self._store_again and not now) or not self._outcomes.due(
                in_flight=in_flight):
            return
        items = self._outcomes.take()
        waiting = False
        try:
            self._store.mark_registered_many([item.registration for item in items])
        except SystemFault as exc:
            waiting = True
            self._outcomes.put_back(items)
            self._store_again = time.monotonic() + self._pause_seconds
            with self._claim_lock:
                self._pause(exc)
        except Exception:   # noqa: BLE001 - each is tried again on its own just below
            for item in items:
                item.context.run(self._guarded, item.claim, functools.partial(self._store_one, item))
        else:
            self._alarm.ok("store")
            for item in items:
                item.context.run(self._said, item)
            self._on_result()
        finally:
            if not waiting:
                with self._lock:
                    self._claimed.difference_update(item.claim.submission_id for item in items)

    def _store_one(self, item: Registered, _claim: Claim) -> None:
        held_exchanges().extend(item.registration.exchanges)
        r = item.registration
        settle(self._store.mark_registered, r.submission_id, meldingsnummer=r.meldingsnummer,
               status=r.status, laatste_mutatie=r.laatste_mutatie)
        self._said(item)

    @staticmethod
    def _said(item: Registered) -> None:
        failpoint("after_outbox_commit_before_publish")
        if item.reconciled:
            log.info("report_reconciled", meldingsnummer=item.registration.meldingsnummer)
        else:
            log.info("report_registered", meldingsnummer=item.registration.meldingsnummer)

    def _keep(self, held: list[ExchangeRecord]) -> None:
        if not held:
            return
        try:
            self._store.record_exchanges(held)
        except StoreUnavailable as exc:   # the outcome's own handling reports the fault
            log.error("exchanges_not_stored", count=len(held), error=type(exc).__name__)
        held.clear()

    def _set_aside(self, claim: Claim, *, reconciling: bool, error: SystemFault) -> None:
        """Put a claim back after a system fault, without counting it against the record."""
        if reconciling:
            # It may be registered at DUO: keep it for reconciliation, never resend.
            self._store.mark_unknown(claim.submission_id, error=type(error).__name__)
        else:
            # Our set-up failed, not the report. Should the request have arrived
            # after all, the stable document id makes DUO answer "duplicate" on
            # the next try, which reconciles instead of registering twice.
            self._store.release(claim.submission_id)

    def _pause(self, exc: SystemFault) -> None:
        self.paused_until = datetime.now(UTC) + timedelta(seconds=self._pause_seconds)
        self.pause_reason = type(exc).__name__
        log.warning("submissions_paused", error=str(exc), resume_after_s=self._pause_seconds)
        self._alarm.fault("store" if isinstance(exc, StoreUnavailable) else "duo", exc,
                          part="submitter")

