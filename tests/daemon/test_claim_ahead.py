"""The claim loop claims again before the ready claims run out (round 18).

A slot takes its next claim from the ready ones when its call ends; should there be
none, the slot ends and waits for the loop to start it again. The loop claims again once
fewer than two per slot are ready, so a claim transaction under way (15-20 ms on
PostgreSQL in a burst) is covered by the calls still to make.
"""

from __future__ import annotations

import threading
from typing import Any

from adapter.config import DuoSettings
from adapter.domain.model import Verzuimmelding
from adapter.duo.port import SubmitResult
from adapter.pipeline.submitter import CLAIM_AHEAD, Submitter
from adapter.store import Store
from adapter.testing import FakeDuo

from .test_submitter import store  # noqa: F401 - the store fixture
from .test_write_behind import _queue

POOL = 2


class GatedDuo(FakeDuo):
    """Every call waits until the test opens the gate: no slot takes a second claim."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> SubmitResult:
        assert self.gate.wait(10), "the test never opened the gate"
        return super().aanleveren(melding, document_id=document_id)


def _ready(sub: Submitter) -> int:
    with sub._ready_lock:
        return len(sub._ready)


def _take(sub: Submitter, n: int) -> list[Any]:
    """What ``n`` slots ending their calls would take."""
    return [sub._pop_ready() for _ in range(n)]


def test_the_loop_claims_again_while_two_claims_per_slot_are_still_ready(store: Store) -> None:
    _queue(store, 40)
    duo = GatedDuo()
    sub = Submitter(DuoSettings(max_concurrency=POOL), store, duo)
    ahead = CLAIM_AHEAD * POOL
    low = 2 * POOL                   # two claims ready per slot
    taken: list[Any] = []
    try:
        sub._claim()                  # claims ahead, starts both slots (their calls wait)
        assert _ready(sub) == ahead - POOL
        taken += _take(sub, ahead - POOL - low)
        assert _ready(sub) == low
        assert not sub._loop_needed()            # two per slot wait: nothing to do yet
        assert sub._claim() == 0 and _ready(sub) == low
        taken += _take(sub, 1)
        assert _ready(sub) == low - 1            # more than one per slot still ready...
        assert sub._loop_needed()                # ...and yet the loop claims again now
        assert sub._claim() == ahead - (low - 1)
        assert _ready(sub) == ahead
        claimed = ahead + ahead - (low - 1)      # in flight, taken and ready: all held
        assert store.counts()["submissions"]["submitting"] == claimed
    finally:
        for claim in taken:           # never sent: back to pending, as a pause does
            store.release(claim.submission_id)
        duo.gate.set()
        sub._pool.shutdown(wait=True)  # both slots send what is ready, then end
