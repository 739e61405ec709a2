"""The intake's chunks: a stop between chunks, and a redelivery that resumes after them.

The real intake, the eduarte plugin and a SQLite store; no broker (the consumer's
part, returning the delivery, is in tests/e2e/test_large_export.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from structlog.testing import capture_logs

from adapter.config import Settings
from adapter.pipeline.intake import CHUNK, STREAM_CHECK_BYTES, Intake
from adapter.vendors import load_vendors
from adapter.sis import Delivery
from adapter.store import Store
from adapter.store import schema as t
from bulk_exports import eduarte_export


def delivery(rows: int) -> Delivery:
    return Delivery(body=eduarte_export(rows, 100), routing_key="eduarte.export",
                    message_id="chunks-1", content_type="text/csv", headers={},
                    redelivered=False, timestamp=None, delivery_tag=1)


def stop_after(checks: int) -> tuple[list[int], object]:
    """A ``stopping`` callable that says yes from its ``checks + 1``-th call on."""
    calls = [0]

    def stopping() -> bool:
        calls[0] += 1
        return calls[0] > checks
    return calls, stopping


def stored(store: Store) -> tuple[int, int, int]:
    """(registrations, inbox parts, items over all parts)."""
    with store.database.read("t") as conn:
        regs = conn.execute(sa.select(sa.func.count()).select_from(t.registraties)).scalar()
        parts, items = conn.execute(sa.select(sa.func.count(), sa.func.sum(
            t.inbox_messages.c["items"]))).one()
    return int(regs), int(parts), int(items or 0)


def test_a_stop_between_chunks_requeues_and_the_redelivery_resumes(settings: Settings,
                                                                   store: Store) -> None:
    vendors = load_vendors(enabled=["eduarte"])
    _, stopping = stop_after(2)
    message = delivery(2 * CHUNK + 500)
    assert len(message.body) < STREAM_CHECK_BYTES   # no read-through: each check is a chunk
    first = Intake(settings, store, vendors, stopping=stopping)  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert first.handle(message).action == "requeue"
    assert [e["parts_committed"] for e in logs if e["event"] == "intake_interrupted"] == [2]
    assert stored(store) == (2 * CHUNK, 2, 2 * CHUNK)
    again = Intake(settings, store, vendors)
    with capture_logs() as logs:
        assert again.handle(message).action == "ack"
    [accepted] = [e for e in logs if e["event"] == "message_accepted"]
    assert (accepted["parts"], accepted["parts_already_stored"]) == (3, 2)
    assert accepted["registraties"] == 500 and not accepted["duplicate"]
    assert stored(store) == (2 * CHUNK + 500, 3, 2 * CHUNK + 500)
    # A third delivery of the whole message stores nothing (a small body is mapped
    # again; its chunks are found by their inbox keys).
    with capture_logs() as logs:
        assert again.handle(message).action == "ack"
    [accepted] = [e for e in logs if e["event"] == "message_accepted"]
    assert accepted["duplicate"] and accepted["parts_already_stored"] == 3
    assert stored(store) == (2 * CHUNK + 500, 3, 2 * CHUNK + 500)


def test_a_stop_while_a_large_body_is_read_through_commits_nothing(settings: Settings,
                                                                   store: Store) -> None:
    message = delivery(6 * CHUNK)
    assert len(message.body) > STREAM_CHECK_BYTES   # read through before the first commit
    calls, stopping = stop_after(3)
    intake = Intake(settings, store, load_vendors(enabled=["eduarte"]),
                    stopping=stopping)  # type: ignore[arg-type]
    assert intake.handle(message).action == "requeue"
    assert calls[0] == 4 and stored(store) == (0, 0, 0)
