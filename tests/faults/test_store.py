"""Fault matrix rows 11 and 21: the store fails under the running daemon (in this
process). Disk full: SQLite's ``max_page_count`` just above the file's size
(``SQLITE_FULL``), PostgreSQL a trigger raising SQLSTATE 53100 (disk_full). Store
unavailable: PostgreSQL behind a fault proxy that resets and refuses connections
(the shared server is never stopped)."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from adapter.pipeline.daemon import Daemon
from adapter.store.keys import create_key_file, new_key

import support
from support import PG_ADMIN_URL, fresh_pg_database, pg_url

from .conftest import Rig, wait_for
from .test_soap import inbox_depth


DISK_FULL_SQL = """
CREATE OR REPLACE FUNCTION fault_disk_full() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'
      USING ERRCODE = '53100'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER fault_disk_full_inbox BEFORE INSERT ON inbox_messages
    FOR EACH ROW EXECUTE FUNCTION fault_disk_full();
CREATE TRIGGER fault_disk_full_outbox BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION fault_disk_full();
"""
HEAL_SQL = """
DROP TRIGGER fault_disk_full_inbox ON inbox_messages;
DROP TRIGGER fault_disk_full_outbox ON outbox;
"""


@pytest.fixture()
def pg_db() -> Iterator[str]:
    """A fresh PostgreSQL database (name) on the shared server; dropped afterwards."""
    with fresh_pg_database("verzuim_f") as name:
        yield name


def use_pg(rig: Rig, name: str, *, port: int | None = None) -> None:
    key = rig.tmp_path / "store.key"
    create_key_file(key, [new_key()])
    rig.store_url = pg_url(name, port=port)
    rig.store = {"encryption_key_file": str(key),
                 "student_key_secret": "fault-tests-student-key-secret-" + "s" * 16}


def store_errors(rig: Rig) -> int:
    return sum(1 for e in rig.logs if e["event"] == "store_unavailable")


def accepted(rig: Rig) -> int:
    return sum(1 for e in rig.logs if e["event"] == "message_accepted")


def held_by_broker(rig: Rig, published: int, accepted_before: int) -> str | None:
    """Of the ``published`` messages sent during the fault, every one not committed
    (no ``message_accepted``) is still held by the broker, unacked, and at least one is
    (the broker's queue counters lag by a statistics interval, 5 s).

    Returns None when it holds, else how it missed, in counts only. The caller asserts
    that after healing the store and checking the run's verdict, so a miss also tells
    whether anything was lost in the end."""
    seen: dict[str, int] = {}

    def holds() -> bool:
        seen["accepted"] = accepted(rig) - accepted_before
        seen["uncommitted"] = published - seen["accepted"]
        seen["held"] = inbox_depth(rig)
        return seen["uncommitted"] >= 1 and seen["held"] == seen["uncommitted"]
    try:
        wait_for(holds, what="uncommitted messages held by the broker", timeout=12,
                 interval=0.5)
        return None
    except AssertionError as exc:
        # which way it missed (counts only): all committed after all, or the broker's
        # count another (-1: rabbitmqctl did not list the queue); every queue of the
        # test's vhost by state, and the daemon's events by name
        queues = support.rabbitmqctl("list_queues", "-p", rig.vhost, "name", "messages",
                                     "messages_ready", "messages_unacknowledged")
        events = Counter(e["event"] for e in rig.logs)
        table = " | ".join(" ".join(line.split()) for line in queues.splitlines())
        return f"{exc}; last seen {seen}; queues: {table}; events {dict(events)}"


def test_row11_disk_full_sqlite(rig: Rig) -> None:
    """``SQLITE_FULL`` on every write: nothing is acked without its commit, consuming
    pauses, and once space returns everything drains."""
    limit: dict[str, int | None] = {"pages": None}

    def prepare(daemon: Daemon) -> None:
        # On every transaction: SQLite writes run on one connection kept open, so a
        # check-out hook would cap it once, before the limit is known.
        @event.listens_for(daemon.store.database.engine, "begin")
        def _cap(conn: Any) -> None:
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.execute(f"PRAGMA max_page_count={limit['pages'] or 1073741823}")
            cursor.close()

    rig.start(prepare=prepare)
    rig.publish(2)
    rig.settle()
    db = Path(rig.store_url.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        limit["pages"] = int(conn.execute("PRAGMA page_count").fetchone()[0])
    before = accepted(rig)
    published = 0
    # The file has free room in its pages: publish until an inbox commit fails.
    while published < 40 and not any(e["event"] == "store_unavailable"
                                      and e.get("operation") == "accept" for e in rig.logs):
        rig.publish(1)
        published += 1
        time.sleep(0.1)
    miss = held_by_broker(rig, published, before)
    limit["pages"] = None
    rig.settle(timeout=40)
    rig.verdict().assert_clean()
    assert miss is None, miss


def test_row11_disk_full_postgresql(pg_db: str, rig: Rig) -> None:
    """SQLSTATE 53100 on every inbox and outbox insert: deliveries stay unacked, results
    wait; after the triggers go, everything drains, nothing lost or sent twice."""
    use_pg(rig, pg_db)
    rig.start()
    rig.publish(2)
    rig.settle()
    admin = sa.create_engine(pg_url(pg_db))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(DISK_FULL_SQL)
        before = accepted(rig)
        rig.publish(3)
        wait_for(lambda: store_errors(rig) >= 2, what="the store full", timeout=20)
        miss = held_by_broker(rig, 3, before)
        with admin.begin() as conn:
            conn.exec_driver_sql(HEAL_SQL)
    finally:
        admin.dispose()
    rig.settle(timeout=40)
    rig.verdict().assert_clean()
    assert miss is None, miss


def test_row21_store_unavailable_postgresql(pg_db: str, rig: Rig) -> None:
    """PostgreSQL unreachable (connections reset, then refused for 3 s): consumption
    pauses without acks, submissions pause, and everything resumes and drains."""
    proxy = rig.proxy("127.0.0.1", sa.make_url(PG_ADMIN_URL).port or 5432)
    use_pg(rig, pg_db, port=proxy.port)
    rig.start()
    rig.publish(2)
    rig.settle()
    proxy.set("reset")
    before = accepted(rig)
    rig.publish(3)
    wait_for(lambda: store_errors(rig) >= 1, what="the store unreachable", timeout=20)
    proxy.set("down")
    miss = held_by_broker(rig, 3, before)
    proxy.heal()
    rig.settle(timeout=40)
    rig.verdict().assert_clean()
    assert miss is None, miss
