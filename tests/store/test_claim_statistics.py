"""PostgreSQL: the claim's table and the reports get fresh planner statistics while a
burst is queued (``adapter.store.planner``), so the claim walks the pending rows in id
order instead of reading and sorting every one of them (200 ms per claim at 3,000
pending), and a look-up of reports by student reads those students' rows only."""

from __future__ import annotations

import re

import sqlalchemy as sa

from adapter.store import IncomingReport, Store
from adapter.store.planner import CLAIM_STATS_EVERY
from adapter.store.registraties_bulk import STALE_ROWS

from .factories import melding


def _queue(store: Store, first: int, n: int) -> None:
    """``n`` new reports, one per message, in intake batches of 32."""
    messages = [(f"m{i}", "acme", "acme.export",
                 [IncomingReport(vendor="acme", melding=melding(f"r{i}", bsn=f"{300000000 + i}"))])
                for i in range(first, first + n)]
    for start in range(0, n, 32):
        store.accept_many(messages[start:start + 32])


def _planner_rows(store: Store) -> float:
    """What the planner believes ``submissions`` holds (set by ANALYZE)."""
    with store.database.read("t") as conn:
        return float(conn.execute(sa.text(
            "SELECT reltuples FROM pg_class WHERE oid = 'submissions'::regclass")).scalar_one())


def _analysed(store: Store) -> None:
    with store.database.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE submissions")
        conn.commit()


def test_a_queued_burst_is_analysed_without_waiting_for_autovacuum(pg_store: Store) -> None:
    _analysed(pg_store)                           # the planner: an empty table
    assert _planner_rows(pg_store) == 0
    _queue(pg_store, 0, CLAIM_STATS_EVERY // 2)
    assert _planner_rows(pg_store) == 0           # too few to look yet
    _queue(pg_store, 1000, CLAIM_STATS_EVERY)
    # Analysed in the intake batch that crossed CLAIM_STATS_EVERY queued.
    assert CLAIM_STATS_EVERY <= _planner_rows(pg_store) < CLAIM_STATS_EVERY + 32
    with pg_store.database.read("t") as conn:
        plan = "\n".join(conn.execute(sa.text(
            "EXPLAIN SELECT id FROM submissions WHERE state = 'pending' "
            "ORDER BY id LIMIT 16")).scalars())
    assert "Sort" not in plan, plan               # the claim's walk in id order


def test_the_next_analysis_waits_for_half_the_pending_rows_more(pg_store: Store) -> None:
    _queue(pg_store, 0, 2 * CLAIM_STATS_EVERY)
    first = _planner_rows(pg_store)               # the batch that crossed CLAIM_STATS_EVERY
    assert CLAIM_STATS_EVERY <= first < CLAIM_STATS_EVERY + 32
    # The next once CLAIM_STATS_EVERY plus half the pending rows of then were queued
    # since: not yet (2 x CLAIM_STATS_EVERY queued in all)...
    next_at = first + CLAIM_STATS_EVERY + first // 2
    assert 2 * CLAIM_STATS_EVERY < next_at
    _queue(pg_store, 5000, int(next_at) - 2 * CLAIM_STATS_EVERY - 1)
    assert _planner_rows(pg_store) == first
    _queue(pg_store, 9000, 1)                     # ...and with the one that reaches it
    assert _planner_rows(pg_store) == next_at


def _school_rows_planned(store: Store) -> int:
    """How many of the school's reports the planner expects ``vendor = ? AND brin = ?``
    to match (what decides whether a look-up by student uses the student's index)."""
    with store.database.read("t") as conn:
        plan = conn.execute(sa.text("EXPLAIN SELECT id FROM reports "
                                    "WHERE vendor = 'acme' AND brin = '00AA'")).scalars().first()
    found = re.search(r"rows=(\d+)", plan or "")
    assert found, plan
    return int(found.group(1))


def test_a_burst_of_reports_is_analysed_without_waiting_for_autovacuum(pg_store: Store) -> None:
    # Without statistics the planner takes vendor and BRIN for selective (one row),
    # reads the school's every report per look-up by student or business key and
    # filters them: 10 ms and 5 ms a statement at 3,000 reports, against 0.6 and 0.5.
    _queue(pg_store, 0, STALE_ROWS - 40)
    assert _school_rows_planned(pg_store) < 50              # not analysed yet
    _queue(pg_store, 5000, 80)
    # Analysed in the intake batch that crossed STALE_ROWS new reports.
    assert _school_rows_planned(pg_store) >= STALE_ROWS - 40
