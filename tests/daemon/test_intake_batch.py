"""The intake's batches: several small deliveries committed in one transaction.

The real intake, the canonical vendor and a SQLite store; no broker (the consumer's
part is in tests/sis/test_consumer_batch.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import sqlalchemy as sa
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from adapter.config import Settings
from adapter.errors import StoreFault, StoreUnavailable
from adapter.pipeline.intake import Intake
from adapter.sis import Delivery
from adapter.store import Store
from adapter.store import schema as t
from adapter.vendors import load_vendors
from e2e.records import encode, record


@pytest.fixture()
def intake(settings: Settings, store: Store) -> Intake:
    return Intake(settings, store, load_vendors(enabled=["canonical"]))


def delivery(n: int, body: bytes, routing_key: str = "canonical.export") -> Delivery:
    return Delivery(body=body, routing_key=routing_key, message_id=f"batch-{n}",
                    content_type="application/json", headers={}, redelivered=False,
                    timestamp=None, delivery_tag=n)


def reports(rng: random.Random, n: int) -> list[Delivery]:
    return [delivery(i, encode(record(rng))) for i in range(n)]


def stored(store: Store) -> tuple[int, int, int]:
    """(reports, submissions, inbox rows)."""
    with store.database.read("t") as conn:
        return tuple(int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                         or 0) for table in (t.reports, t.submissions, t.inbox_messages)
                     )  # type: ignore[return-value]


def commits(store: Store) -> list[int]:
    """A counter of the store's committed transactions, from now on."""
    count = [0]
    sa.event.listen(store.database.engine, "commit", lambda _conn: count.__setitem__(0, count[0] + 1))
    return count


def test_a_run_of_reports_is_one_transaction_and_each_keeps_its_inbox_row(
        intake: Intake, store: Store) -> None:
    batch = reports(random.Random(1), 5)
    counted = commits(store)
    with capture_logs(processors=[merge_contextvars]) as logs:
        done = intake.handle_many(batch)
    assert [d.action for d in done] == ["ack"] * 5
    assert counted[0] == 1
    assert stored(store) == (5, 5, 5)
    accepted = [e for e in logs if e["event"] == "message_accepted"]
    assert [e["message_id"] for e in accepted] == [d.message_id for d in batch]
    assert all(e["new_reports"] == 1 and not e["duplicate"] for e in accepted)
    # A redelivery of the same messages stores nothing twice.
    with capture_logs() as logs:
        assert [d.action for d in intake.handle_many(batch)] == ["ack"] * 5
    assert stored(store) == (5, 5, 5)
    assert all(e["duplicate"] for e in logs if e["event"] == "message_accepted")


def test_the_run_ends_before_a_delivery_handle_must_decide_alone(intake: Intake,
                                                                 store: Store) -> None:
    rng = random.Random(2)
    ok = reports(rng, 4)
    broken = delivery(90, b"{not json")
    unknown = delivery(91, encode(record(rng)), routing_key="nobody.export")
    assert len(intake.handle_many([ok[0], ok[1], broken, ok[2]])) == 2
    assert stored(store) == (2, 2, 2)
    assert intake.handle(broken).action == "dead"
    assert len(intake.handle_many([unknown, ok[2], ok[3]])) == 0    # first one alone
    assert intake.handle_many([ok[2]]) == []                        # one: nothing gained
    assert stored(store) == (2, 2, 2)


def test_rejections_are_part_of_the_run(intake: Intake, store: Store) -> None:
    rng = random.Random(3)
    bad = record(rng)
    bad["brin"] = "99ZZ"        # not our school: a rejected event, no report
    batch = [delivery(0, encode(record(rng))), delivery(1, encode(bad))]
    assert [d.action for d in intake.handle_many(batch)] == ["ack", "ack"]
    assert stored(store) == (1, 1, 2)
    with store.database.read("t") as conn:
        events = conn.execute(sa.select(t.outbox.c.event)).scalars().all()
    assert events == ["rejected"]


def test_a_failed_transaction_stores_nothing_and_leaves_the_run_to_handle(
        intake: Intake, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = reports(random.Random(4), 3)

    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable("store accept failed (OperationalError)")
    with monkeypatch.context() as patched:
        patched.setattr(store, "accept_many", down)
        assert intake.handle_many(batch) == []
    assert stored(store) == (0, 0, 0)
    assert [intake.handle(d).action for d in batch] == ["ack"] * 3
    assert stored(store) == (3, 3, 3)


def test_a_stopping_daemon_takes_no_run(settings: Settings, store: Store) -> None:
    stopping = Intake(settings, store, load_vendors(enabled=["canonical"]),
                      stopping=lambda: True)
    assert stopping.handle_many(reports(random.Random(5), 3)) == []
    assert stored(store) == (0, 0, 0)


def test_the_run_is_the_same_as_one_by_one(settings: Settings, tmp_path: Path) -> None:
    rng = random.Random(6)
    records = [record(rng) for _ in range(6)]
    records[3] = {**records[1], "einddatum": None}        # a change of an earlier one
    batch = [delivery(i, json.dumps(r).encode()) for i, r in enumerate(records)]
    outcomes = []
    for name, batched in (("a", True), ("b", False)):
        s = Store.open(f"sqlite:///{tmp_path / name}.db")
        intake = Intake(settings, s, load_vendors(enabled=["canonical"]))
        if batched:
            assert len(intake.handle_many(batch)) == len(batch)
        else:
            assert all(intake.handle(d).action == "ack" for d in batch)
        with s.database.read("t") as conn:
            outcomes.append((
                conn.execute(sa.select(t.reports.c.source_id, t.reports.c.state,
                                       t.reports.c.content_hash).order_by(t.reports.c.id)).all(),
                conn.execute(sa.select(t.submissions.c.operation, t.submissions.c.state)
                             .order_by(t.submissions.c.id)).all(),
                conn.execute(sa.select(t.report_history.c.event)
                             .order_by(t.report_history.c.id)).scalars().all()))
        s.close()
    assert outcomes[0] == outcomes[1]
    assert len(outcomes[0][0]) == 5     # the change updated the earlier report


def test_registrations_are_part_of_the_run_as_one_by_one(settings: Settings,
                                                          tmp_path: Path) -> None:
    from bulk_exports import eduarte_export
    rng = random.Random(7)
    batch = [
        Delivery(body=eduarte_export(40, 5, first_id=1 + 100 * n), routing_key="eduarte.export",
                 message_id=f"wn-{n}", content_type="text/csv", headers={},
                 redelivered=False, timestamp=None, delivery_tag=n)
        for n in range(2)] + [delivery(9, encode(record(rng)))]
    outcomes = []
    for name, batched in (("a", True), ("b", False)):
        s = Store.open(f"sqlite:///{tmp_path / name}.db")
        intake = Intake(settings, s, load_vendors(enabled=["eduarte", "canonical"]))
        if batched:
            assert [d.action for d in intake.handle_many(batch)] == ["ack"] * 3
        else:
            assert all(intake.handle(d).action == "ack" for d in batch)
        with s.database.read("t") as conn:
            outcomes.append(conn.execute(
                sa.select(t.registraties.c.source_id, t.registraties.c.datum)
                .order_by(t.registraties.c.id)).all())
        s.close()
    assert outcomes[0] == outcomes[1] and len(outcomes[0]) >= 40


def test_a_run_holds_about_a_chunk_of_records(intake: Intake, store: Store,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import adapter.pipeline.intake as intake_module
    monkeypatch.setattr(intake_module, "CHUNK", 5)
    rng = random.Random(8)
    batch = [delivery(i, encode(record(rng), record(rng))) for i in range(6)]   # 2 each
    assert len(intake.handle_many(batch)) == 3      # 2 + 2 + 2: the run ends at 5 or more
    assert stored(store) == (6, 6, 3)


def test_a_store_failure_that_is_not_an_outage_goes_back_to_the_broker(
        intake: Intake, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not the plugin's bug: the handler raises (the consumer requeues the delivery,
    # counted against the queue's delivery limit) instead of dead-lettering it.
    one = reports(random.Random(5), 1)[0]

    def surprise(*_args: object, **_kwargs: object) -> None:
        raise sa.exc.ProgrammingError("SELECT 1", None, Exception("123456782"))
    with monkeypatch.context() as patched, capture_logs() as logs:
        patched.setattr(store, "accept", surprise)
        with pytest.raises(StoreFault, match="accept: ProgrammingError") as info:
            intake.handle(one)
    assert "123456782" not in str(info.value)
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["store_failed"]
    assert stored(store) == (0, 0, 0)
    assert intake.handle(one).action == "ack"      # the redelivery, the store working
    assert stored(store) == (1, 1, 1)


def test_a_plugin_that_raises_dead_letters_its_message(
        intake: Intake, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    one = reports(random.Random(6), 1)[0]
    vendor = load_vendors(enabled=["canonical"]).get("canonical")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("a plugin's bug")
    with capture_logs() as logs:
        monkeypatch.setattr(type(vendor), "to_duo", broken)
        done = intake.handle(one)
    assert (done.action, done.reason) == ("dead", "vendor plugin failed: KeyError")
    assert "plugin_crashed" in [e["event"] for e in logs]
    assert stored(store) == (0, 0, 0)


def test_a_rejection_is_logged_once_through_failed_commits_and_redeliveries(
        intake: Intake, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    bad = record(rng)
    bad["brin"] = "99ZZ"        # not our school: a rejection at intake
    alone = delivery(0, encode(bad))
    batch = [delivery(1, encode(record(rng))), delivery(2, encode(bad))]

    def rejections(logs: list[dict[str, object]]) -> list[object]:
        return [e.get("message_id") for e in logs if e["event"] == "record_rejected"]

    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable("store accept failed (OperationalError)")
    with capture_logs(processors=[merge_contextvars]) as logs:
        with monkeypatch.context() as patched:
            patched.setattr(store, "accept", down)
            assert [intake.handle(alone).action for _ in range(3)] == ["requeue"] * 3
        assert rejections(logs) == []                      # nothing committed yet
        assert intake.handle(alone).action == "ack"
        assert rejections(logs) == ["batch-0"]
        assert intake.handle(alone).action == "ack"        # a redelivery: already stored
        assert rejections(logs) == ["batch-0"]
        with monkeypatch.context() as patched:
            patched.setattr(store, "accept_many", down)
            assert intake.handle_many(batch) == []
        assert rejections(logs) == ["batch-0"]
        assert [d.action for d in intake.handle_many(batch)] == ["ack", "ack"]
        assert [d.action for d in intake.handle_many(batch)] == ["ack", "ack"]
    assert rejections(logs) == ["batch-0", "batch-2"]
