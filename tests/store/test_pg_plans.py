"""PostgreSQL walks the index the relay's fetch and the claim need, and stops at the
limit (docs/performance.md, rounds 16 and 17); the intake's statements read the same
for any run, so psycopg prepares them.

- The relay's fetch (``adapter.store.outbox._walk_the_index``): left to itself the
  planner gathered every index entry with a NULL ``published_at`` (dead ones too,
  until VACUUM) in a bitmap and sorted them: 44 ms a fetch through a 100,000-report
  backlog, growing with every event ever stored.
- The claim: with statistics from before a backlog was worked off, it walked the
  primary key and filtered every settled submission: 6-7 ms a claim with 10,000 done,
  growing with each. Pending submissions have an index of their own (migration 0015),
  which the claim names by its constant, so that no statistics, and no prepared
  statement's generic plan, send it past the settled ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from adapter.store import IncomingReport, Store
from adapter.store.common import utcnow

from .factories import melding

EVENTS = 20_000
SUBMISSIONS = 2_000


def _plans(store: Store, work: Callable[[], object]) -> list[tuple[str, str]]:
    """(statement, PostgreSQL's plan) of each SELECT ``work`` runs on the store; its
    other statements (a ``SET LOCAL``) run again before them, in one transaction."""
    sent: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    engine = store.database.engine
    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        work()
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    plans = []
    with engine.connect() as conn, conn.begin():
        for statement, parameters in sent:
            if statement.lstrip().upper().startswith("SELECT"):
                plans.append((statement, "\n".join(row[0] for row in conn.exec_driver_sql(
                    "EXPLAIN " + statement, parameters))))
            elif statement.lstrip().upper().startswith("SET"):
                conn.exec_driver_sql(statement, parameters)
        conn.rollback()        # nothing the replay did stays
    return plans


def _generic_plan(store: Store, statement: str, parameters: dict[str, Any]) -> str:
    """PostgreSQL's generic plan of ``statement`` (psycopg's ``%(name)s`` parameters):
    the plan a statement prepared by psycopg gets once it ran often, made without
    looking at the values (PostgreSQL 15 has no ``EXPLAIN (GENERIC_PLAN)``)."""
    names = list(parameters)
    types = {name: "integer" if isinstance(value, int) else
             "timestamptz" if hasattr(value, "tzinfo") else "varchar"
             for name, value in parameters.items()}
    for number, name in enumerate(names, 1):
        statement = statement.replace(f"%({name})s", f"${number}")
    with store.database.engine.connect() as conn:
        raw = conn.connection.driver_connection
        cursor = psycopg.ClientCursor(raw)     # EXPLAIN EXECUTE takes no bound parameters
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE claim ({', '.join(types[n] for n in names)}) AS {statement}")
        cursor.execute("EXPLAIN EXECUTE claim ("
                       + ", ".join(f"%s::{types[n]}" for n in names) + ")",
                       [parameters[n] for n in names])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE claim")
        cursor.execute("RESET plan_cache_mode")
        conn.rollback()
    return plan


def _analyse(store: Store, table: str) -> None:
    with store.database.engine.begin() as conn:
        conn.exec_driver_sql(f"ANALYZE {table}")


def _published_backlog(store: Store) -> None:
    """EVENTS outbox rows, each inserted unpublished and then published (as the relay
    does: one dead index entry each), never vacuumed."""
    with store.database.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO outbox (message_id, vendor, brin, event, source_id, data, created_at)"
            " SELECT 'm' || n, 'acme', '00AA', 'registered', 'r' || n, '\"sealed\"', now()"
            f" FROM generate_series(1, {EVENTS}) AS n")
    with store.database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE outbox SET published_at = now()")


def _backlog(store: Store) -> None:
    """SUBMISSIONS new reports, each with its pending submission, 32 to a run."""
    messages = [(f"m{i}", "acme", "acme.export",
                 [IncomingReport(vendor="acme", melding=melding(f"r{i}", bsn=f"{300000000 + i}"))])
                for i in range(SUBMISSIONS)]
    for start in range(0, SUBMISSIONS, 32):
        store.accept_many(messages[start:start + 32])


@pytest.mark.parametrize("analysed", [False, True], ids=["no-statistics", "analysed"])
def test_the_relays_fetch_reads_the_unpublished_index_in_order(pg_store: Store,
                                                               analysed: bool) -> None:
    _published_backlog(pg_store)
    if analysed:
        _analyse(pg_store, "outbox")
    for fetch in (lambda: pg_store.pending_events(200),
                  lambda: pg_store.pending_events(200, exclude=[("acme", "00AB", "signaal")]),
                  lambda: pg_store.first_pending_events([("acme", "00AA", "registered")])):
        [(_, plan)] = _plans(pg_store, fetch)
        assert "Index Scan using ix_outbox_unpublished" in plan, plan
        assert "Sort" not in plan and "Bitmap" not in plan, plan


def test_a_backlog_worked_off_by_claims_keeps_the_claim_to_its_index(
        pg_store: Store) -> None:
    _backlog(pg_store)
    _analyse(pg_store, "submissions")            # the planner: every row pending
    now = utcnow() + timedelta(seconds=1)
    claimed = 0
    while claimed < SUBMISSIONS // 3:            # a third worked off, by claims
        claims = pg_store.claim_due(limit=16, now=now)
        assert claims
        claimed += len(claims)
    plans = _plans(pg_store, lambda: pg_store.claim_due(limit=16, now=now))
    due = [plan for statement, plan in plans
           if "FROM submissions" in statement and "next_attempt_at <=" in statement]
    assert due                                   # the claim (and a peek, when it looks)
    for plan in due:
        assert "submissions_pkey" not in plan, plan
        assert "Index Scan using ix_submissions_" in plan and "Sort" not in plan, plan


@pytest.mark.parametrize("plan_of", ["custom", "generic"])
def test_the_claim_walks_the_pending_submissions_whatever_the_statistics_say(
        pg_store: Store, plan_of: str) -> None:
    """Statistics from when every submission was pending, a third of them settled since
    (by another replica, or before a restart: this store's counts never saw it). The
    claim walks the pending submissions' index, in the plan made for the values and in
    the generic plan a prepared statement gets after five runs."""
    _backlog(pg_store)
    _analyse(pg_store, "submissions")            # the planner: every row pending
    with pg_store.database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE submissions SET state = 'registered'"
                             f" WHERE id <= {SUBMISSIONS // 3}")
    now = utcnow() + timedelta(seconds=1)
    sent: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FOR NO KEY UPDATE OF submissions" in statement:
            sent.append((statement, parameters))

    sa.event.listen(pg_store.database.engine, "before_cursor_execute", grab)
    try:
        claims = pg_store.claim_due(limit=16, now=now)
    finally:
        sa.event.remove(pg_store.database.engine, "before_cursor_execute", grab)
    assert [claim.submission_id for claim in claims] == list(
        range(SUBMISSIONS // 3 + 1, SUBMISSIONS // 3 + 17))
    [(statement, parameters)] = sent
    if plan_of == "generic":
        plan = _generic_plan(pg_store, statement, parameters)
    else:
        [(_, plan)] = [entry for entry in _plans(pg_store, lambda: pg_store.claim_due(
            limit=16, now=now)) if "next_attempt_at <=" in entry[0]]
    assert "Index Scan using ix_submissions_pending on submissions" in plan, plan


def test_the_intakes_statements_read_the_same_whatever_the_runs_length(
        pg_store: Store) -> None:
    """A run of new reports (``accept_many``) sends the same statement texts for 3
    messages as for 5: psycopg prepares a text it has run five times, and the server
    then plans it once, not 1.3 ms a run (round 16: the look-up by business key was a
    new text of 3 parameters a key)."""
    texts: list[list[str]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        texts[-1].append(statement)

    sa.event.listen(pg_store.database.engine, "before_cursor_execute", grab)
    try:
        for prefix, length in (("a", 3), ("b", 5)):
            texts.append([])
            pg_store.accept_many([
                (f"{prefix}-m{i}", "acme", "acme.export", [IncomingReport(
                    vendor="acme",
                    melding=melding(f"{prefix}{i}", bsn=f"{300000000 + 100 * length + i}"))])
                for i in range(length)])
    finally:
        sa.event.remove(pg_store.database.engine, "before_cursor_execute", grab)
    short, long = texts
    assert len(short) >= 5 and any("source_id" in text for text in short)
    assert short == long
