"""The submitter stores registrations write-behind: several calls' outcomes in one
transaction (adapter.pipeline.outcomes), each exactly once, against a real SQLite store."""

from __future__ import annotations

import threading
import time
from typing import Any

from adapter.config import DuoSettings
from adapter.domain.model import Verzuimmelding
from adapter.errors import StoreUnavailable
from adapter.duo.port import SubmitResult
from adapter.pipeline.outcomes import Outcomes, Registered
from adapter.pipeline.submitter import Submitter
from adapter.store import IncomingReport, Registration, Store
from adapter.testing import FakeDuo

from store.factories import T0, melding

from .test_submitter import events, run_until, store  # noqa: F401 - the store fixture

N = 8


class SlowDuo(FakeDuo):
    """Each registration takes a while, so calls overlap and end close together."""

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> SubmitResult:
        time.sleep(0.03)
        return super().aanleveren(melding, document_id=document_id)


def _queue(store: Store, n: int = N) -> None:
    store.accept(message_id="m1", vendor="acme", routing_key="acme.export", items=[
        IncomingReport(vendor="acme", melding=melding(f"r{i}", bsn=f"{100000000 + i}"))
        for i in range(n)])


def _spy(store: Store, fail_batches: bool = False, store_away: int = 0) -> list[int]:
    """Record the size of each ``mark_registered_many`` (one per transaction); with
    ``fail_batches``, a transaction of more than one fails (a bug, say); the first
    ``store_away`` transactions find the store away."""
    sizes: list[int] = []
    real = store.mark_registered_many

    def spy(registrations: Any) -> None:
        sizes.append(len(registrations))
        if len(sizes) <= store_away:
            raise StoreUnavailable("store unavailable during mark_registered: OperationalError")
        if fail_batches and len(registrations) > 1:
            raise RuntimeError("the batch's transaction failed")
        real(registrations)

    store.mark_registered_many = spy  # type: ignore[method-assign]
    return sizes


def _all_done(counts: dict[str, Any]) -> bool:
    return counts["submissions"].get("done", 0) == N


def test_calls_that_end_together_share_one_transaction(store: Store) -> None:
    _queue(store)
    sizes = _spy(store)
    duo = SlowDuo()
    run_until(store, duo, _all_done)
    assert sum(sizes) == N and max(sizes) > 1, sizes      # fewer commits than calls
    assert sorted(events(store)) == ["registered"] * N    # one event each
    assert sorted(duo.ledger.values()) == [1] * N          # each sent once


def test_a_batch_whose_transaction_fails_is_stored_one_by_one(store: Store) -> None:
    _queue(store)
    sizes = _spy(store, fail_batches=True)
    duo = SlowDuo()
    run_until(store, duo, _all_done)
    assert any(size > 1 for size in sizes), sizes         # a batch was tried and failed
    assert sizes.count(1) >= N                            # then each on its own
    assert sorted(events(store)) == ["registered"] * N
    assert sorted(duo.ledger.values()) == [1] * N          # nothing sent again


def test_registrations_wait_while_the_store_is_away(store: Store) -> None:
    """The store is away for the first two tries: submissions pause, the registrations
    wait (nothing is resent, nothing is stored one by one) and are stored after."""
    _queue(store)
    sizes = _spy(store, store_away=2)
    duo = SlowDuo()
    sub = run_until(store, duo, _all_done)
    assert sizes[1] >= sizes[0] > 0, sizes                 # tried again together
    assert sorted(events(store)) == ["registered"] * N
    assert sorted(duo.ledger.values()) == [1] * N and len(duo.sent) == N   # none sent again
    assert sub.pause_reason is None or sub.pause_reason == "StoreUnavailable"


def _waiting(n: int, since: float) -> Registered:
    import contextvars

    from adapter.domain.model import Operation
    from adapter.store import Claim
    claim = Claim(n, n, "acme", Operation.AANLEVEREN, f"doc-{n}", 1, melding(f"r{n}"), None)
    return Registered(claim, Registration(n, f"MN-{n}", "R", T0), False,
                      contextvars.copy_context(), since)


def test_what_waits_is_due_when_full_old_or_alone() -> None:
    outcomes = Outcomes(size=3, linger=10.0)
    assert not outcomes.due(in_flight=0)                 # nothing waits
    outcomes.add(_waiting(1, time.monotonic()))
    assert outcomes.holds(1) and not outcomes.holds(2)
    assert not outcomes.due(in_flight=2)                 # others may join it
    assert outcomes.due(in_flight=0)                     # nothing else will come
    assert 9.0 < outcomes.wait(60.0) <= 10.0
    outcomes.add(_waiting(2, time.monotonic()))
    outcomes.add(_waiting(3, time.monotonic()))
    assert outcomes.due(in_flight=2)                     # full
    assert [w.claim.submission_id for w in outcomes.take()] == [1, 2, 3]
    assert len(outcomes) == 0 and not outcomes.holds(1)
    outcomes.add(_waiting(5, time.monotonic()))
    outcomes.put_back([_waiting(2, time.monotonic()), _waiting(3, time.monotonic())])
    assert outcomes.holds(2) and [w.claim.submission_id for w in outcomes.take()] == [2, 3, 5]
    outcomes.add(_waiting(4, time.monotonic() - 11.0))
    assert outcomes.due(in_flight=2) and outcomes.wait(60.0) == 0.0   # waited long enough


class CountingDuo(SlowDuo):
    """Sets ``all_sent`` once every one of ``n`` reports was sent."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.all_sent = threading.Event()

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> SubmitResult:
        result = super().aanleveren(melding, document_id=document_id)
        if len(self.sent) >= self.n:
            self.all_sent.set()
        return result


def test_a_slot_takes_the_next_ready_claim_while_the_loop_stores(store: Store) -> None:
    """The claim loop is held in its first transaction of registrations until DUO saw
    every report: the pool's slots take the claims waiting ready themselves (before,
    each was handed over by the loop, and nothing was sent while it stored)."""
    _queue(store)
    duo = CountingDuo(N)
    seen: list[bool] = []
    real = store.mark_registered_many

    def held(registrations: Any) -> None:
        if not seen:
            seen.append(duo.all_sent.wait(5))
        real(registrations)

    store.mark_registered_many = held  # type: ignore[method-assign]
    run_until(store, duo, _all_done)
    assert seen == [True]                                  # all sent while it was held
    assert sorted(events(store)) == ["registered"] * N
    assert sorted(duo.ledger.values()) == [1] * N


class CountingWake(threading.Event):
    """The claim loop's wake-up event, counting the wakes asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def set(self) -> None:
        self.asked += 1
        super().set()


def test_the_loop_sleeps_while_the_slots_have_claims(store: Store) -> None:
    """A call that ends wakes the claim loop only when it has work: claims to take
    ahead, a full batch to store, or the first registration's linger to time. Before,
    every call's end woke it (twice), and each wake cost a turn at the interpreter."""
    n = 40
    _queue(store, n)
    duo = SlowDuo()
    settings = DuoSettings(max_concurrency=4)
    sub = Submitter(settings, store, duo, idle_wait=5.0, write_behind=0.05)
    wake = sub._wake = CountingWake()
    stop = threading.Event()
    thread = threading.Thread(target=sub.run, args=(stop,), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        while store.counts()["submissions"].get("done", 0) < n:
            assert time.monotonic() - started < 10, store.counts()
            time.sleep(0.02)
        # 40 calls of 30 ms on 4 slots: about 0.3 s; the loop's idle wait (5 s) never
        # held a registration back (the first one's wake set the loop's clock).
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        sub.wake()
        thread.join(10)
    assert wake.asked < n, wake.asked
    assert sorted(duo.ledger.values()) == [1] * n


class GatedDuo(FakeDuo):
    """The first registration comes after 0.2 s; every later call waits (at most 3 s)
    until a registration was stored, and says whether it came within a second."""

    def __init__(self) -> None:
        super().__init__()
        self.stored = threading.Event()
        self.in_time: list[bool] = []
        self._first = threading.Lock()

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> SubmitResult:
        if self._first.acquire(blocking=False):
            time.sleep(0.2)
        else:
            self.in_time.append(self.stored.wait(1.0))
            self.stored.wait(2.0)
        return super().aanleveren(melding, document_id=document_id)


def test_the_first_registration_waiting_sets_the_loops_clock(store: Store) -> None:
    """The loop sleeps its idle wait (5 s here) while the slots have claims; the first
    registration that waits wakes it, so it is stored within the linger, not after
    the idle wait, even though nothing else wakes the loop."""
    n = 12
    _queue(store, n)
    duo = GatedDuo()
    real = store.mark_registered_many

    def spy(registrations: Any) -> None:
        real(registrations)
        duo.stored.set()

    store.mark_registered_many = spy  # type: ignore[method-assign]
    sub = Submitter(DuoSettings(max_concurrency=2), store, duo, idle_wait=5.0,
                    write_behind=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=sub.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while store.counts()["submissions"].get("done", 0) < n:
            assert time.monotonic() < deadline, store.counts()
            time.sleep(0.02)
    finally:
        stop.set()
        sub.wake()
        thread.join(10)
    assert duo.in_time and all(duo.in_time), duo.in_time
    assert sorted(duo.ledger.values()) == [1] * n
