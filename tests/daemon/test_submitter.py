"""Submitter outcomes against a real SQLite store and a scripted DUO client.

The DUO side is a fake here on purpose: this is the classification logic (which
outcome leads to which store transition and whether anything is resent). The
same paths run against the real simulator over TLS in tests/e2e.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapter.config import DuoSettings
from adapter.domain.model import Status, Terugmelding
from adapter.duo import SubmitResult
from adapter.errors import DuoRejected, DuplicateDocument, OutcomeUnknown, SystemFault, TransientError
from adapter.store import IncomingReport, Store
from adapter.submitter import Submitter, backoff_delay

from store.factories import melding


class ScriptedDuo:
    """Answers each aanleveren with the next scripted outcome; records every call."""

    def __init__(self, outcomes: list[Any], registered: set[str] | None = None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[str] = []
        self.asked: list[str] = []
        self.registered = registered if registered is not None else set()

    def aanleveren(self, melding: Any, *, document_id: str) -> SubmitResult:
        self.sent.append(document_id)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "ok" or outcome == "ok-then-lost":
            self.registered.add(document_id)
            if outcome == "ok-then-lost":
                raise OutcomeUnknown("read timeout")
            return SubmitResult("100001", Status.R, datetime.now(UTC))
        raise outcome

    def opvragen(self, *, brin: str, document_id: str | None = None,
                 meldingsnummer: str | None = None) -> Terugmelding | None:
        self.asked.append(document_id or "")
        if document_id in self.registered:
            return Terugmelding("100001", Status.R, datetime.now(UTC),
                                identificatiecode_bedrijfsdocument=document_id)
        return None


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    yield s
    s.close()


def run_until(store: Store, duo: ScriptedDuo, done: Callable[[dict[str, Any]], bool],
              **settings: Any) -> Submitter:
    duo_settings = DuoSettings(retry_base_seconds=0.01, retry_max_seconds=0.02,
                               max_attempts=settings.pop("max_attempts", 4), max_concurrency=2)
    sub = Submitter(duo_settings, store, duo, idle_wait=0.02,  # type: ignore[arg-type]
                    pause_seconds=settings.pop("pause_seconds", 0.3))
    stop = threading.Event()
    thread = threading.Thread(target=sub.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    try:
        while not done(store.counts()):
            assert time.monotonic() < deadline, store.counts()
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    return sub


def queue(store: Store) -> None:
    store.accept(message_id="m1", vendor="acme", routing_key="acme.export",
                 items=[IncomingReport(vendor="acme", melding=melding("r1"))])


def events(store: Store) -> list[str]:
    return [e.event for _, e in store.pending_events(limit=50)]


def done_in(state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda c: c["submissions"].get(state, 0) == 1


def test_registered(store: Store) -> None:
    queue(store)
    duo = ScriptedDuo(["ok"])
    run_until(store, duo, done_in("done"))
    assert len(duo.sent) == 1 and events(store) == ["registered"]


def test_rejection_is_terminal_and_not_retried(store: Store) -> None:
    queue(store)
    duo = ScriptedDuo([DuoRejected([("VZ004", "te oud voor V3")])])
    run_until(store, duo, done_in("rejected"))
    time.sleep(0.2)
    assert len(duo.sent) == 1 and events(store) == ["rejected"]


def test_transient_failures_retry_with_the_same_document_id(store: Store) -> None:
    queue(store)
    duo = ScriptedDuo([TransientError("503"), TransientError("503"), "ok"])
    run_until(store, duo, done_in("done"))
    assert len(duo.sent) == 3 and len(set(duo.sent)) == 1


def test_gives_up_after_max_attempts(store: Store) -> None:
    queue(store)
    duo = ScriptedDuo([TransientError("503")] * 10)
    run_until(store, duo, done_in("failed"), max_attempts=3)
    assert len(duo.sent) == 3 and events(store) == ["failed"]


def test_unknown_outcome_is_reconciled_not_resent(store: Store) -> None:
    queue(store)
    duo = ScriptedDuo(["ok-then-lost"])
    run_until(store, duo, done_in("done"))
    assert len(duo.sent) == 1 and duo.asked == duo.sent
    assert events(store) == ["registered"]


def test_unknown_and_not_found_is_resent_with_the_same_id(store: Store) -> None:
    queue(store)
    duo = ScriptedDuo([OutcomeUnknown("reset"), "ok"])
    run_until(store, duo, done_in("done"))
    assert len(duo.sent) == 2 and len(set(duo.sent)) == 1 and duo.asked == duo.sent[:1]


def test_duplicate_document_is_reconciled(store: Store) -> None:
    queue(store)
    duo = ScriptedDuo([])
    first = []

    def duplicate(melding: Any, *, document_id: str) -> SubmitResult:
        first.append(document_id)
        duo.registered.add(document_id)
        raise DuplicateDocument("VZ900")

    duo.aanleveren = duplicate  # type: ignore[method-assign]
    run_until(store, duo, done_in("done"))
    assert len(first) == 1 and duo.asked == first


def test_system_fault_pauses_without_counting_against_the_record(store: Store) -> None:
    queue(store)
    duo = ScriptedDuo([SystemFault("tls_handshake_failed"), "ok"])
    sub = run_until(store, duo, done_in("done"), max_attempts=1, pause_seconds=0.3)
    # max_attempts=1 and still registered: the system fault was not an attempt.
    assert len(duo.sent) == 2 and events(store) == ["registered"]
    assert sub.healthy


def test_backoff_grows_and_is_capped() -> None:
    import random
    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, 8.0, rng) for n in range(1, 8)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert max(backoff_delay(1, 1.0, 8.0, rng) for _ in range(50)) <= 1.0
    assert max(backoff_delay(6, 1.0, 8.0, rng) for _ in range(50)) > 4.0
