"""Connections, transactions and migrations for SQLite and PostgreSQL.

:class:`Database` owns the SQLAlchemy engine and hands out one transaction at a
time through :meth:`Database.write` and :meth:`Database.read`. Database faults
(disk full, server down, locked too long) leave it as
:class:`~adapter.errors.StoreUnavailable`, whose message names the operation
and the driver's error class, never a value (the engine also hides bound
parameters from SQLAlchemy's own messages).

SQLite: every connection gets ``journal_mode=WAL``, ``synchronous=FULL`` (with
``NORMAL`` a committed transaction can be lost on power failure after we acked
the message), ``foreign_keys=ON`` and a busy timeout. SQLite has one writer, so
write transactions start with ``BEGIN IMMEDIATE`` (taking the write lock up
front instead of failing on lock upgrade) and, inside this process, also hold a
lock so threads queue cheaply instead of spinning in SQLite's busy handler. They all
run on one connection, kept open: SQLite empties a connection's page cache whenever
another connection wrote, so writes spread over a pool would read their pages again
(with a system call each) every time. A write that fails closes that connection, and
the next one opens a fresh one. Reads use the pool.

PostgreSQL: the pool pings a connection before it hands it out (``pool_pre_ping``). A
ping that fails in any way counts as a lost connection (:func:`_install_pg_hooks`): the
pool opens a new one, and a server out of reach fails that as
:class:`~adapter.errors.StoreUnavailable`.
"""

from __future__ import annotations

import fcntl
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from adapter.errors import ConfigError, StoreUnavailable
from adapter.store import pseudonyms
from adapter.store.crypto import Cipher, attach, cipher_of
from adapter.store.pseudonyms import StudentKeySecret

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
#: pg_advisory_xact_lock key that serialises migrations of concurrent replicas.
_MIGRATION_LOCK = 0x5645525A  # "VERZ"

T = TypeVar("T")
#: SQLSTATEs of a transaction PostgreSQL aborted to resolve a conflict: safe to repeat.
_CONFLICT_CODES = {"40P01", "40001"}   # deadlock_detected, serialization_failure
_CONFLICT_RETRIES = 3

# Faults of the database itself, as opposed to bugs in our SQL (IntegrityError,
# ProgrammingError), which propagate unchanged.
_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.InternalError,
                sa.exc.TimeoutError, sa.exc.DisconnectionError)


def normalise_url(url: str) -> sa.URL:
    """Parse a store URL; ``postgresql://``/``postgres://`` get the psycopg 3 driver."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError("store.url is not a valid database URL") from exc
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ConfigError("store.url must be sqlite:///PATH or postgresql://…")
    return parsed


def create_engine(url: str) -> Engine:
    """An engine for ``url`` with this store's connection settings installed."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "postgresql":
        pg = sa.create_engine(
            parsed, hide_parameters=True, pool_pre_ping=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
        )
        _install_pg_hooks(pg)
        return pg
    database = parsed.database or ""
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if database in ("", ":memory:"):
        # One shared connection, or every pooled connection would see its own database.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
    engine = sa.create_engine(parsed, **kwargs)
    _install_sqlite_hooks(engine)
    return engine


def _install_pg_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "handle_error")
    def _ping_failed(context: sa.engine.ExceptionContext) -> None:
        # A ping that fails means the pooled connection is no use, however it failed.
        # SQLAlchemy's psycopg ping restores ``autocommit`` after the ``;`` it sends; on a
        # connection lost in mid-ping (its socket gone, libpq not yet told, transaction
        # status ACTIVE) that raises ProgrammingError, which SQLAlchemy would pass on as
        # a bug in our SQL, not a disconnect: a database outage then killed the
        # submitter thread, or had the intake dead-letter a healthy message as a
        # plugin's failure (fault matrix row 21, docs/reliability.md).
        if context.is_pre_ping:
            context.is_disconnect = True


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below); the sqlite3 module's implicit BEGIN
        # is DEFERRED and skips SELECTs, which breaks serialisable writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The engine plus the transaction discipline every store method uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock: Any = (
            threading.RLock() if self.dialect == "sqlite" else nullcontext())
        # An in-memory SQLite database is one shared connection: readers queue too.
        memory = self.dialect == "sqlite" and engine.url.database in (None, "", ":memory:")
        self._read_lock: Any = self._write_lock if memory else nullcontext()
        self._daemon_lock: IO[str] | None = None
        # SQLite file: every write runs on one connection, kept open (module docstring).
        self._keep_writer = self.dialect == "sqlite" and not memory
        self._writer: Connection | None = None

    @classmethod
    def open(cls, url: str, *, cipher: Cipher | None = None,
             student_secret: StudentKeySecret | None = None) -> Database:
        """``cipher``: encrypts the personal data (:mod:`adapter.store.crypto`); None: clear.
        ``student_secret``: keys the student keys (:mod:`adapter.store.pseudonyms`); without
        it nothing that computes a student key can run (and migration 0009 re-keys no row)."""
        engine = create_engine(url)
        attach(engine.dialect, cipher)
        pseudonyms.attach(engine.dialect, student_secret)
        return cls(engine)

    @property
    def cipher(self) -> Cipher | None:
        return cipher_of(self.engine.dialect)

    @property
    def student_secret(self) -> StudentKeySecret | None:
        return pseudonyms.secret_of(self.engine.dialect)

    def close(self) -> None:
        self.dispose()
        if self._daemon_lock is not None:
            self._daemon_lock.close()      # closing the file releases the lock
            self._daemon_lock = None

    def dispose(self) -> None:
        """Close every connection, the writer's too; the next transaction opens new ones."""
        with self._write_lock:
            self._drop_writer()
        self.engine.dispose()

    def hold_for_daemon(self) -> None:
        """SQLite: refuse a second daemon on this database file (one writer; replicas need
        PostgreSQL). An exclusive ``flock`` on ``<database>.daemon.lock`` held until
        :meth:`close`; the system releases it when the process dies, however it dies."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or database in (None, "", ":memory:"):
            return
        path = Path(str(database)).expanduser().resolve()
        lock = open(f"{path}.daemon.lock", "a")  # noqa: SIM115 - held open on purpose
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ConfigError(
                f"store.url: another adapter daemon already runs on the SQLite file {path.name}; "
                "run one daemon per SQLite file, or use PostgreSQL for several replicas"
            ) from None
        self._daemon_lock = lock

    @contextmanager
    def write(self, operation: str) -> Iterator[Connection]:
        """One read-write transaction: commits on normal exit, rolls back on error."""
        try:
            with self._write_lock, self._write_connection() as conn, conn.begin():
                yield conn
        except _UNAVAILABLE as exc:
            raise _unavailable(operation, exc) from exc

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        """The connection of one write (under the write lock): the kept writer for a
        SQLite file, else one from the pool."""
        if not self._keep_writer:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    conn.execution_options(sqlite_begin="IMMEDIATE")
                yield conn
            return
        if self._writer is None:
            self._writer = self.engine.connect()
            self._writer.execution_options(sqlite_begin="IMMEDIATE")
        try:
            yield self._writer
        except BaseException:
            # Whatever went wrong may have left the connection unusable: the next
            # write opens a fresh one (failures are rare; a pool would have checked
            # this connection on its return).
            self._drop_writer()
            raise

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001, S110 - already broken: nothing to give back
                pass

    def run(self, operation: str, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in one write transaction, repeated when PostgreSQL aborts it
        for a deadlock or serialisation conflict (``work`` must be safe to repeat:
        every store operation is, since nothing of an aborted attempt persists)."""
        attempt = 1
        while True:
            try:
                with self.write(operation) as conn:
                    return work(conn)
            except StoreUnavailable as exc:
                code = getattr(getattr(exc.__cause__, "orig", None), "sqlstate", None)
                if code not in _CONFLICT_CODES or attempt >= _CONFLICT_RETRIES:
                    raise
            log.info("store_conflict_retry", operation=operation, attempt=attempt)
            time.sleep(random.uniform(0.005, 0.05) * attempt)
            attempt += 1

    @contextmanager
    def read(self, operation: str) -> Iterator[Connection]:
        """One read-only transaction (a consistent snapshot, no write lock)."""
        try:
            with self._read_lock, self.engine.connect() as conn, conn.begin():
                yield conn
        except _UNAVAILABLE as exc:
            raise _unavailable(operation, exc) from exc

    def migrate(self) -> None:
        """Bring the schema to the newest revision (``alembic upgrade head``); idempotent.

        A store already at :func:`head_revision` is left as it is without loading alembic
        (its import, about 70 ms of a restarted daemon's start)."""
        with self.write("migrate") as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            if _revision(conn) != head_revision():
                from alembic import command
                from alembic.config import Config
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = conn
                config.attributes["student_secret"] = self.student_secret   # for 0009
                command.upgrade(config, "head")
        log.info("store_migrated", dialect=self.dialect)

    def pragma(self, name: str) -> Any:
        """The value of ``PRAGMA name`` on a pooled connection (SQLite only; for tests/status)."""
        with self.read("pragma") as conn:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def head_revision() -> str:
    """The newest schema revision: the number of the highest migration file (each file
    ``NNNN_name.py`` is revision ``NNNN``, one after the other; a test holds this to
    alembic's own head)."""
    return max(path.name.split("_", 1)[0]
               for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _revision(conn: Connection) -> str | None:
    """The store's schema revision (alembic's ``alembic_version``); None before the first
    migration."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _unavailable(operation: str, exc: BaseException) -> StoreUnavailable:
    orig = getattr(exc, "orig", None) or exc
    log.warning("store_unavailable", operation=operation, error=type(orig).__name__)
    return StoreUnavailable(f"store unavailable during {operation}: {type(orig).__name__}")
