"""PostgreSQL: the relay's fetch walks ``ix_outbox_unpublished`` in order and stops at
its limit (``adapter.store.outbox._walk_the_index``).

Left to itself the planner gathered every index entry with a NULL ``published_at``
(dead ones too, until VACUUM) in a bitmap and sorted them: 44 ms a fetch through a
100,000-report backlog, growing with every event ever stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.store import Store
from adapter.store.crypto import Cipher

from .conftest import TEST_KEY, TEST_STUDENT_SECRET, _empty

EVENTS = 20_000


@pytest.fixture
def pg_store(pg_database: str) -> Iterator[Store]:
    _empty(pg_database)
    store = Store.open(pg_database, cipher=Cipher([TEST_KEY]),
                       student_secret=TEST_STUDENT_SECRET)
    try:
        yield store
    finally:
        store.close()


def _published_backlog(store: Store) -> None:
    """EVENTS outbox rows, each inserted unpublished and then published (as the relay
    does: one dead index entry each), never analysed, never vacuumed."""
    with store.database.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO outbox (message_id, vendor, brin, event, source_id, data, created_at)"
            " SELECT 'm' || n, 'acme', '00AA', 'registered', 'r' || n, '\"sealed\"', now()"
            f" FROM generate_series(1, {EVENTS}) AS n")
    with store.database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE outbox SET published_at = now()")


def _plans(store: Store, fetch: Any) -> list[str]:
    """PostgreSQL's plan of each SELECT ``fetch`` runs on the store (its other
    statements, such as a ``SET LOCAL``, run again before them)."""
    sent: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    engine = store.database.engine
    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        fetch()
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    plans = []
    with engine.begin() as conn:         # replayed in one transaction, as ``fetch`` ran
        for statement, parameters in sent:
            if statement.lstrip().upper().startswith("SELECT"):
                plans.append("\n".join(row[0] for row in conn.exec_driver_sql(
                    "EXPLAIN " + statement, parameters)))
            else:
                conn.exec_driver_sql(statement, parameters)
    return plans


@pytest.mark.parametrize("analysed", [False, True], ids=["no-statistics", "analysed"])
def test_the_relays_fetch_reads_the_unpublished_index_in_order(pg_store: Store,
                                                               analysed: bool) -> None:
    _published_backlog(pg_store)
    if analysed:
        with pg_store.database.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE outbox")
    for fetch in (lambda: pg_store.pending_events(200),
                  lambda: pg_store.pending_events(200, exclude=[("acme", "00AB", "signaal")]),
                  lambda: pg_store.first_pending_events([("acme", "00AA", "registered")])):
        [plan] = _plans(pg_store, fetch)
        assert "Index Scan using ix_outbox_unpublished" in plan, plan
        assert "Sort" not in plan and "Bitmap" not in plan, plan
