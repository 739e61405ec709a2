"""A call's cost does not grow with the backlog (SQLite), and the one writer connection.

The claim, its peek and the signaler's "changed since" run often; each must read
about as many rows as it returns, whatever the store holds. SQLite's query plans
say so: a search on an index that yields the rows in the order asked, no sort of
every matching row (0011: before, a claim at 43,000 pending rows took 0.2 s).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.domain.calendar import Calendars, SchoolCalendar
from adapter.domain.model import Registratie, Student
from adapter.store import IncomingRegistratie, Store

from .conftest import TEST_STUDENT_SECRET
from .factories import T0, accept, report

CALENDARS = Calendars(default=SchoolCalendar.build(region="midden"))


@pytest.fixture()
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path}/verzuim.db", student_secret=TEST_STUDENT_SECRET)
    try:
        yield s
    finally:
        s.close()


@contextmanager
def query_plans(store: Store) -> Iterator[list[tuple[str, list[str]]]]:
    """(statement, SQLite's plan) of every SELECT the store runs meanwhile."""
    plans: list[tuple[str, list[str]]] = []

    def explain(_conn: Any, cursor: Any, statement: str, parameters: Any,
                _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement,
                                             parameters).fetchall()
            plans.append((statement, [row[-1] for row in rows]))

    engine = store.database.engine
    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)


def test_a_claim_takes_the_oldest_rows_without_sorting_the_backlog(
        sqlite_store: Store) -> None:
    for i in range(30):
        accept(sqlite_store, f"m-{i}", report(f"r{i}", bsn=f"{100000000 + i:09d}"))
    first = sqlite_store.claim_due(limit=5, now=T0 + timedelta(seconds=1))
    with query_plans(sqlite_store) as plans:
        claimed = sqlite_store.claim_due(limit=3, now=T0 + timedelta(seconds=1))
    # The oldest pending rows, in order, after the ones claimed before.
    ids = [c.submission_id for c in claimed]
    assert ids == sorted(ids) and min(ids) > max(c.submission_id for c in first)
    due = [(sql, plan) for sql, plan in plans
           if "FROM submissions" in sql and "next_attempt_at <=" in sql]
    assert len(due) == 2          # the peek (read) and the claim (write)
    for _sql, plan in due:
        assert any("USING INDEX ix_submissions_state_id (state=?)" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan


def test_the_signalers_changes_read_an_index(sqlite_store: Store) -> None:
    accept(sqlite_store, "m-1", report("r1"))
    with query_plans(sqlite_store) as plans:
        changes = sqlite_store.signal_changes(T0 - timedelta(minutes=1))
    assert len(changes) == 1
    [(_sql, plan)] = plans
    assert any("SEARCH reports USING INDEX ix_reports_updated_at" in s for s in plan), plan
    assert any("SEARCH registraties USING INDEX ix_registraties_updated_at" in s
               for s in plan), plan


def _reports_by_student(plans: list[tuple[str, list[str]]]) -> list[list[str]]:
    """The plans of the statements that read a school's reports of some students."""
    return [plan for sql, plan in plans
            if "FROM reports" in sql and "reports.student_key IN" in sql]


def test_a_schools_reports_of_some_students_are_found_by_student(
        sqlite_store: Store) -> None:
    """The signaler and the registrations' intake read a school's reports of a few
    students: through the student's index, not the business key's (``vendor, brin``),
    which reads every report of the school (0014: the signaler took 3.1 ms per report
    through a backlog of 100,000)."""
    for i in range(30):
        accept(sqlite_store, f"m-{i}", report(f"r{i}", bsn=f"{100000000 + i:09d}"))
    [student] = sqlite_store.signal_students()[:1]
    accept(sqlite_store, "m-other", report("r-other", brin="00BB"))
    with query_plans(sqlite_store) as plans:
        sqlite_store.evaluate_signals([student], calendars=CALENDARS, today=T0.date())
        accept(sqlite_store, "m-reg", IncomingRegistratie(vendor="acme", registratie=Registratie(
            source_id="g1", brin="00AA", student=Student(bsn="100000001"),
            datum=date(2025, 2, 3), lesuren=(1, 2))))
    read = _reports_by_student(plans)
    assert len(read) == 2, [sql for sql, _plan in plans]   # the signaler, the intake
    for plan in read:
        assert any("USING INDEX ix_reports_student (vendor=? AND brin=? AND student_key=?)"
                   in step for step in plan), plan


def _driver(conn: sa.Connection) -> Any:
    return conn.connection.driver_connection


def test_sqlite_writes_share_one_connection_across_threads(sqlite_store: Store) -> None:
    """SQLite drops a connection's page cache whenever another connection wrote: all
    writes on one connection keep it (reads still use the pool)."""
    db = sqlite_store.database
    mine = db.run("test", _driver)
    theirs: list[Any] = []
    worker = threading.Thread(target=lambda: theirs.append(db.run("test", _driver)))
    worker.start()
    worker.join()
    assert theirs == [mine]
    with db.read("test") as conn:
        assert _driver(conn) is not mine


def test_a_failed_write_leaves_the_next_one_a_fresh_connection(sqlite_store: Store) -> None:
    """Whatever a failed write left on its connection (here: made it read-only; or
    closed it) does not reach the writes after it."""
    db = sqlite_store.database
    spoiled = db.run("test", _driver)

    def spoil_and_fail(conn: sa.Connection) -> None:
        _driver(conn).execute("PRAGMA query_only = ON")
        raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError, match="the work failed"):
        db.run("test", spoil_and_fail)
    assert db.run("test", _driver) is not spoiled
    accept(sqlite_store, "m-1", report("r1"))          # writes work on

    def close_and_fail(conn: sa.Connection) -> None:
        _driver(conn).close()
        raise RuntimeError("the work failed")

    # The rollback on the closed connection fails too, and says so.
    with pytest.raises(sa.exc.ProgrammingError, match="closed database"):
        db.run("test", close_and_fail)
    accept(sqlite_store, "m-2", report("r2"))
    assert sorted(r.source_id for r in sqlite_store.list_reports()) == ["r1", "r2"]
