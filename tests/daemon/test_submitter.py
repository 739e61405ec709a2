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
from adapter.domain.rules import ADAPTER_RULES
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


# ---- wijzigen and intrekken: the stamp, closed reports (issue 8 item 2) -----------------

def registered(store: Store, duo: FakeDuo) -> str:
    """Queue r1 and let the submitter register it; DUO's meldingsnummer."""
    queue(store)
    run_until(store, duo, done_in("done"))
    [nummer] = duo.reports
    return nummer


def change(store: Store, message_id: str = "m2", **changes: Any) -> None:
    store.accept(message_id=message_id, vendor="acme", routing_key="acme.export",
                 items=[IncomingReport(vendor="acme", melding=melding("r1", **changes))])


def done_count(n: int, state: str = "done") -> Callable[[dict[str, Any]], bool]:
    return lambda c: c["submissions"].get(state, 0) == n


def history_events(store: Store) -> list[tuple[str, str | None]]:
    [summary] = store.list_reports()
    detail = store.report_detail(summary.report_id)
    assert detail is not None
    return [(h["event"], h["detail"]) for h in detail["history"]]


@pytest.mark.parametrize("changes, operation", [({"toelichting": "v2"}, "wijzigen"),
                                                ({"deleted": True}, "intrekken")])
def test_a_stale_stamp_fetches_duos_version_and_retries_once(
        store: Store, changes: dict[str, Any], operation: str) -> None:
    from adapter.domain.model import Status
    duo = FakeDuo()
    nummer = registered(store, duo)
    duo.set_status(nummer, Status.B)          # the municipality moved on; we did not poll
    change(store, **changes)
    run_until(store, duo, done_count(2))
    # Sent with our (stale) stamp, refused VZ903, DUO's version fetched, sent again.
    assert [op for op, _ in duo.sent] == ["aanleveren", operation, operation]
    assert duo.asked == [nummer] and len(set(duo.documents[1:])) == 1
    assert duo.ledger[duo.documents[-1]] == 1
    assert events(store) == ["registered", "registered"]
    assert [d for e, d in history_events(store) if e == "duo_version"] == [
        f"meldingsnummer {nummer} status B laatste_mutatie 2026-01-01T00:00:02+00:00"]
    assert duo.reports[nummer].status is (Status.I if operation == "intrekken" else Status.B)


def test_a_second_stale_stamp_is_a_rejection_with_duos_code(store: Store) -> None:
    from adapter.errors import StaleStamp
    duo = FakeDuo()
    nummer = registered(store, duo)
    stale = StaleStamp([("VZ903", "melding is intussen gewijzigd")])
    duo.script("wijzigen", stale, stale)
    change(store, toelichting="v2")
    run_until(store, duo, done_count(1, "rejected"))
    assert [op for op, _ in duo.sent] == ["aanleveren", "wijzigen", "wijzigen"]
    assert duo.asked == [nummer]
    [(_, rejected)] = [(i, e) for i, e in store.pending_events(limit=10)
                       if e.event == "rejected"]
    assert [e["code"] for e in rejected.data["errors"]] == ["VZ903"]
    assert rejected.data["operation"] == "wijzigen"


@pytest.mark.parametrize("changes", [{"toelichting": "v2"}, {"deleted": True}],
                         ids=["wijzigen", "intrekken"])
@pytest.mark.parametrize("closed", ["G", "K", "I"])
def test_a_report_duo_closed_is_refused_before_sending(
        store: Store, changes: dict[str, Any], closed: str) -> None:
    from datetime import UTC, datetime

    from adapter.domain.model import Status, Terugmelding
    duo = FakeDuo()
    nummer = registered(store, duo)
    change(store, **changes)                  # queued; then the poller hears DUO closed it
    store.apply_feedback([Terugmelding(nummer, Status(closed), datetime(2026, 2, 1, tzinfo=UTC))],
                         watermark=datetime(2026, 2, 1, tzinfo=UTC), name="00AA")
    run_until(store, duo, done_count(1, "rejected"))
    assert [op for op, _ in duo.sent] == ["aanleveren"] and duo.asked == []   # no call to DUO
    [rejected] = [e for _, e in store.pending_events(limit=10) if e.event == "rejected"]
    assert rejected.data["errors"] == [{"code": "AD030", "field": "meldingsnummer",
                                       "rule": ADAPTER_RULES["AD030"], "text": ADAPTER_RULES["AD030"]}]


def test_duos_version_closed_after_a_stale_stamp_is_refused_with_ad030(store: Store) -> None:
    from adapter.domain.model import Status
    from adapter.errors import StaleStamp
    duo = FakeDuo()
    nummer = registered(store, duo)
    duo.set_status(nummer, Status.G)          # closed at DUO; we have not heard yet
    # A DUO that checks the stamp before the status (the fake and the simulator answer
    # VZ902 first): the version fetched after VZ903 shows it closed.
    duo.script("wijzigen", StaleStamp([("VZ903", "melding is intussen gewijzigd")]))
    change(store, toelichting="v2")
    run_until(store, duo, done_count(1, "rejected"))
    assert [op for op, _ in duo.sent] == ["aanleveren", "wijzigen"] and duo.asked == [nummer]
    [rejected] = [e for _, e in store.pending_events(limit=10) if e.event == "rejected"]
    assert [e["code"] for e in rejected.data["errors"]] == ["AD030"]
    assert store.list_reports()[0].duo_status == "G"


# ---- reconciliation by the document that was sent (issue 8 item 4) -----------------------

@pytest.mark.parametrize("changes, operation", [({"toelichting": "v2"}, "wijzigen"),
                                                ({"deleted": True}, "intrekken")])
def test_a_lost_mutation_is_reconciled_by_its_own_document_id(
        store: Store, changes: dict[str, Any], operation: str) -> None:
    duo = FakeDuo()
    registered(store, duo)
    duo.script(operation, "lost")            # DUO did it; the answer never arrived
    change(store, **changes)
    run_until(store, duo, done_count(2))
    assert [op for op, _ in duo.sent] == ["aanleveren", operation]
    assert duo.asked == [duo.documents[1]] and duo.ledger[duo.documents[1]] == 1
    assert events(store) == ["registered", "registered"]
    assert store.list_reports()[0].state == (
        "withdrawn" if operation == "intrekken" else "registered")


def test_a_document_never_found_ends_failed_after_max_attempts(store: Store) -> None:
    queue(store)
    duo = scripted(*[OutcomeUnknown("reset")] * 10)      # never reaches DUO's register
    run_until(store, duo, done_in("failed"), max_attempts=3)
    assert len(duo.sent) == 3 and len(set(duo.documents)) == 1
    assert duo.asked == duo.documents and duo.ledger == {}
    assert events(store) == ["failed"]


def test_a_look_up_that_keeps_failing_backs_off_and_ends_failed(store: Store) -> None:
    queue(store)
    duo = scripted(OutcomeUnknown("reset"))
    duo.script("opvragen", *[TransientError("503")] * 10)
    run_until(store, duo, done_in("failed"), max_attempts=3)
    # One send; the look-ups counted (1 + 2 more) until max_attempts, then given up.
    assert len(duo.sent) == 1 and len(duo.asked) == 3
    assert events(store) == ["failed"]
    [failed] = [e for _, e in store.pending_events(limit=10)]
    assert "outcome unknown" in failed.data["reason"]
