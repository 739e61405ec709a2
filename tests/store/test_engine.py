"""Migrations, connection settings and fault wrapping."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.autogenerate import compare_metadata

from adapter.errors import ConfigError, StoreUnavailable
from adapter.store import Store
from adapter.store.crypto import Cipher
from adapter.store.engine import head_revision, normalise_url
from adapter.store.schema import metadata

from faultproxy import FaultProxy

from .conftest import TEST_KEY, TEST_STUDENT_SECRET, TEST_STUDENT_SECRET_TEXT, _empty
from .factories import accept, report

ROOT = Path(__file__).resolve().parents[2]


def test_migrations_twice_are_a_no_op(store_url: str) -> None:
    first = Store.open(store_url, student_secret=TEST_STUDENT_SECRET)
    accept(first, "m-1", report("r1"))
    first.close()
    second = Store.open(store_url, student_secret=TEST_STUDENT_SECRET)
    try:
        engine = second.database.engine
        with engine.connect() as conn:
            from alembic.config import Config
            from alembic.script import ScriptDirectory

            from adapter.store.engine import MIGRATIONS
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            head = ScriptDirectory.from_config(config).get_current_head()
            assert head == "0015" == head_revision()
            assert MigrationContext.configure(conn).get_current_revision() == head
            assert set(sa.inspect(conn).get_table_names()) >= set(metadata.tables)
        assert len(second.list_reports()) == 1
    finally:
        second.close()


def test_a_store_at_the_newest_revision_opens_without_alembic(store_url: str) -> None:
    # A restarted daemon's store: alembic (about 70 ms to import) stays unloaded.
    Store.open(store_url, student_secret=TEST_STUDENT_SECRET).close()   # migrated here
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from adapter.store import Store
        from adapter.store.engine import head_revision
        from adapter.store.pseudonyms import StudentKeySecret
        store = Store.open({store_url!r}, student_secret=StudentKeySecret({TEST_STUDENT_SECRET_TEXT!r}))
        print(head_revision(), "alembic" in sys.modules)
        store.close()
    """)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].split() == ["0015", "False"]


def test_schema_matches_table_definitions(store: Store) -> None:
    """The migrations build exactly what ``schema.py`` describes (columns, types, indexes)."""
    with store.database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_sqlite_pragmas_in_effect(tmp_path: object) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/deep/er/v.db")
    try:
        db = store.database
        assert db.pragma("journal_mode") == "wal"
        assert db.pragma("synchronous") == 2          # FULL
        assert db.pragma("foreign_keys") == 1
        assert db.pragma("busy_timeout") >= 1000
    finally:
        store.close()


def test_url_normalisation() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ConfigError):
        normalise_url("mysql://u@h/db")
    with pytest.raises(ConfigError):
        normalise_url("not a url")


def test_database_down_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable) as info:
        Store.open("postgresql://postgres@127.0.0.1:1/nothing",
                   student_secret=TEST_STUDENT_SECRET)
    assert "migrate" in str(info.value)


def lose_pooled_connection(store: Store) -> None:
    """The store's one pooled PostgreSQL connection, lost as row 21 lost one in CI: its
    socket gone under psycopg (the descriptor now reads ``/dev/null``), libpq not told.
    SQLAlchemy's ping then fails with ProgrammingError ("can't change 'autocommit' now:
    connection in transaction status ACTIVE") instead of a disconnect."""
    store.database.dispose()
    with store.database.engine.connect() as conn:       # the pool now holds this one
        fileno = conn.connection.dbapi_connection.fileno()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, fileno)
    finally:
        os.close(null)


def test_a_connection_lost_in_mid_ping_is_replaced(pg_store: Store) -> None:
    lose_pooled_connection(pg_store)
    accept(pg_store, "m-1", report("r1"))        # the pool opened a new connection
    assert len(pg_store.list_reports()) == 1


def test_a_connection_lost_in_mid_ping_with_the_server_gone_is_store_unavailable(
        pg_database: str) -> None:
    # Before the fix the writer got sqlalchemy's ProgrammingError: the submitter thread
    # died of it, and the intake dead-lettered a healthy message as a plugin failure.
    _empty(pg_database)
    url = sa.make_url(pg_database)
    with FaultProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        store = Store.open(url.set(port=proxy.port).render_as_string(hide_password=False),
                           cipher=Cipher([TEST_KEY]), student_secret=TEST_STUDENT_SECRET)
        try:
            lose_pooled_connection(store)
            proxy.set("down")
            with pytest.raises(StoreUnavailable) as info:
                accept(store, "m-1", report("r1"))
            assert "accept" in str(info.value)
            proxy.heal()
            accept(store, "m-1", report("r1"))
            assert len(store.list_reports()) == 1
        finally:
            store.close()


def test_disk_full_is_store_unavailable(store: Store, store_url: str) -> None:
    engine = store.database.engine
    if engine.dialect.name == "sqlite":
        # Cap the file at its current size on every new connection (SQLITE_FULL).
        @sa.event.listens_for(engine, "connect")
        def _cap(dbapi_connection: object, _record: object) -> None:
            cur = dbapi_connection.cursor()  # type: ignore[attr-defined]
            pages = cur.execute("PRAGMA page_count").fetchone()[0]
            cur.execute(f"PRAGMA max_page_count={pages}")
            cur.close()
        store.database.dispose()      # every connection from now on is capped
    else:
        with engine.begin() as conn:   # SQLSTATE 53100 disk_full, as PostgreSQL raises it
            conn.exec_driver_sql(
                "CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN RAISE EXCEPTION 'no space' USING ERRCODE = '53100'; END$$")
            conn.exec_driver_sql("CREATE TRIGGER disk_full_trg BEFORE INSERT ON inbox_messages "
                                 "FOR EACH ROW EXECUTE FUNCTION full_disk()")
    big = [report(f"r{i}", bsn=f"{i:09d}", toelichting="x" * 2000) for i in range(60)]
    try:
        with pytest.raises(StoreUnavailable) as info:
            accept(store, "m-1", *big)
        assert "123456782" not in str(info.value) and "x" * 20 not in str(info.value)
    finally:
        if engine.dialect.name != "sqlite":
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP TRIGGER disk_full_trg ON inbox_messages")
                conn.exec_driver_sql("DROP FUNCTION full_disk()")
    assert store.counts()["reports"] == {}        # nothing half-written


def test_migration_0006_downgrades_and_upgrades_with_reports_stored(store: Store) -> None:
    from datetime import datetime, timezone

    from alembic import command
    from alembic.config import Config

    from adapter.domain.model import Status, Terugmelding
    from adapter.store.engine import MIGRATIONS
    accept(store, "m-1", report("r1"))
    now = datetime(2025, 3, 3, tzinfo=timezone.utc)
    store.apply_feedback([Terugmelding("WEB-1", Status.R, now, brin="00AA", verzuimsoort="L")],
                         watermark=now, name="fb")
    assert sorted(r.origin for r in store.list_reports()) == ["adapter", "web"]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for target, step in (("0004", command.downgrade), ("head", command.upgrade)):
        with store.database.write("migrate") as conn:   # foreign keys on, as in production
            config.attributes["connection"] = conn
            step(config, target)
    [kept] = store.list_reports()                        # web reports have no older place
    assert (kept.source_id, kept.origin) == ("r1", "adapter")
