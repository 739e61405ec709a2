"""Submitter outcomes against a real SQLite store and the kit's FakeDuo.

The DUO side is the in-memory port on purpose: this is the classification logic
(which outcome leads to which store transition and whether anything is resent).
The same paths run against the real simulator over TLS in tests/e2e.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.backoff import backoff_delay
from adapter.config import DuoSettings
from adapter.errors import (
    DuoRejected,
    OutcomeUnknown,
    RecordError,
    RuleViolation,
    SystemFault,
    TransientError,
)
from adapter.pipeline.submitter import Submitter
from adapter.store import IncomingReport, Store
from adapter.testing import FakeDuo

from store.factories import melding


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    yield s
    s.close()


def scripted(*outcomes: Any) -> FakeDuo:
    """A FakeDuo whose next ``aanleveren`` calls end as ``outcomes`` say."""
    duo = FakeDuo()
    duo.script("aanleveren", *outcomes)
    return duo


def run_until(store: Store, duo: FakeDuo, done: Callable[[dict[str, Any]], bool],
              **settings: Any) -> Submitter:
    duo_settings = DuoSettings(retry_base_seconds=0.01, retry_max_seconds=0.02,
                               max_attempts=settings.pop("max_attempts", 4), max_concurrency=2)
    sub = Submitter(duo_settings, store, duo, idle_wait=0.02,
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
    duo = FakeDuo()
    run_until(store, duo, done_in("done"))
    assert len(duo.sent) == 1 and events(store) == ["registered"]
    assert list(duo.ledger.values()) == [1]


def test_rejection_is_terminal_and_not_retried(store: Store) -> None:
    queue(store)
    duo = scripted(DuoRejected([("VZ004", "te oud voor V3")]))
    run_until(store, duo, done_in("rejected"))
    time.sleep(0.2)
    assert len(duo.sent) == 1 and events(store) == ["rejected"]


def rejected_errors(store: Store) -> list[dict[str, Any]]:
    [data] = [e.data for _, e in store.pending_events(limit=50) if e.event == "rejected"]
    return list(data["errors"])


def test_duo_rejection_errors_carry_code_field_rule_and_text(store: Store) -> None:
    queue(store)
    run_until(store, scripted(DuoRejected([("VZ007", "te oud voor V3")])), done_in("rejected"))
    assert rejected_errors(store) == [
        {"code": "VZ007", "field": None, "rule": "te oud voor V3", "text": "te oud voor V3"}]


@pytest.mark.parametrize(("error", "expected"), [
    # Refused on our side before sending: the adapter's own code (never "VALIDATION")
    # and no exception text, which may quote a value.
    (RecordError("value 06-12ab5678 did not fit", field="melder.telefoonnummer"),
     ("melder.telefoonnummer", "the request for DUO could not be built from the report",
      "AD012")),
    (RuleViolation([("status", "legacy status D is never sent")]),
     ("status", "legacy status D is never sent", "AD012")),
])
def test_a_record_error_before_sending_is_rejected_with_the_adapters_code(
        store: Store, error: RecordError, expected: tuple[str, str, str]) -> None:
    queue(store)
    run_until(store, scripted(error), done_in("rejected"))
    field, rule, code = expected
    assert rejected_errors(store) == [{"code": code, "field": field, "rule": rule, "text": rule}]
    assert "06-12ab5678" not in str(store.pending_events(limit=50))


def test_transient_failures_retry_with_the_same_document_id(store: Store) -> None:
    queue(store)
    duo = scripted(TransientError("503"), TransientError("503"), "ok")
    run_until(store, duo, done_in("done"))
    assert len(duo.sent) == 3 and len(set(duo.documents)) == 1


def test_gives_up_after_max_attempts(store: Store) -> None:
    queue(store)
    duo = scripted(*[TransientError("503")] * 10)
    run_until(store, duo, done_in("failed"), max_attempts=3)
    assert len(duo.sent) == 3 and events(store) == ["failed"]


def test_unknown_outcome_is_reconciled_not_resent(store: Store) -> None:
    queue(store)
    duo = scripted("lost")
    run_until(store, duo, done_in("done"))
    assert len(duo.sent) == 1 and duo.asked == duo.documents
    assert list(duo.ledger.values()) == [1]
    assert events(store) == ["registered"]


def test_unknown_and_not_found_is_resent_with_the_same_id(store: Store) -> None:
    queue(store)
    duo = scripted(OutcomeUnknown("reset"), "ok")
    run_until(store, duo, done_in("done"))
    assert len(duo.sent) == 2 and len(set(duo.documents)) == 1
    assert duo.asked == duo.documents[:1] and list(duo.ledger.values()) == [1]


def test_duplicate_document_is_reconciled(store: Store) -> None:
    queue(store)
    duo = scripted("seen")       # an earlier send arrived; DUO answers VZ900
    run_until(store, duo, done_in("done"))
    assert duo.documents == duo.asked and list(duo.ledger.values()) == [1]
    assert events(store) == ["registered"]


def test_system_fault_pauses_without_counting_against_the_record(store: Store) -> None:
    queue(store)
    duo = scripted(SystemFault("tls_handshake_failed"), "ok")
    sub = run_until(store, duo, done_in("done"), max_attempts=1, pause_seconds=0.3)
    # max_attempts=1 and still registered: the system fault was not an attempt.
    assert len(duo.sent) == 2 and events(store) == ["registered"]
    assert sub.healthy


def test_backoff_grows_and_is_capped() -> None:
    import random
    rng = random.Random(1)
    delays = [backoff_delay(n, base=1.0, cap=8.0, rng=rng) for n in range(7)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert max(backoff_delay(0, base=1.0, cap=8.0, rng=rng) for _ in range(50)) <= 1.0
    assert max(backoff_delay(5, base=1.0, cap=8.0, rng=rng) for _ in range(50)) > 4.0
    assert min(backoff_delay(9, base=1.0, cap=8.0, rng=rng) for _ in range(50)) >= 4.0
