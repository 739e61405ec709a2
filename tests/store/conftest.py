"""Fixtures: every store test runs on SQLite (a file per test) and PostgreSQL.

PostgreSQL gets a fresh database per test module (``verzuim_t_<random>`` on the
server of ``VERZUIM_TEST_PG``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
emptied before each test and dropped afterwards. When the server does not
answer, the PostgreSQL variants are skipped locally and FAIL when ``CI`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from cryptography.fernet import Fernet

from adapter.store import schema
from adapter.store.crypto import Cipher
from adapter.store.pseudonyms import StudentKeySecret

from adapter.store import Store
from support import fresh_pg_database, pg_url

# Every table of the schema, so a new one cannot leak rows between tests.
TABLES = tuple(table.name for table in schema.metadata.sorted_tables)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this module; dropped afterwards."""
    with fresh_pg_database("verzuim_t") as name:
        yield pg_url(name)


def _empty(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            exists = conn.execute(sa.text("SELECT to_regclass('reports')")).scalar()
            if exists:
                conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()



@pytest.fixture
def pg_store(pg_database: str) -> Iterator[Store]:
    """A store on this module's PostgreSQL database, emptied first (for the planner's
    tests, which need PostgreSQL itself)."""
    _empty(pg_database)
    store = Store.open(pg_database, cipher=Cipher([TEST_KEY]),
                       student_secret=TEST_STUDENT_SECRET)
    try:
        yield store
    finally:
        store.close()

@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A store URL with an empty store behind it (not yet opened)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store/verzuim.db"
    url: str = request.getfixturevalue("pg_database")
    _empty(url)
    return url


#: the key every store test encrypts with (encryption at rest is the default).
TEST_KEY = Fernet.generate_key()


@pytest.fixture
def store_cipher() -> Cipher:
    return Cipher([TEST_KEY])


#: the secret every store test's student keys are made with (PostgreSQL has no default);
#: as text too, for a test's process of its own.
TEST_STUDENT_SECRET_TEXT = "test-student-key-secret-" + "s" * 16
TEST_STUDENT_SECRET = StudentKeySecret(TEST_STUDENT_SECRET_TEXT)


@pytest.fixture
def student_secret() -> StudentKeySecret:
    return TEST_STUDENT_SECRET


@pytest.fixture
def store(store_url: str, store_cipher: Cipher,
          student_secret: StudentKeySecret) -> Iterator[Store]:
    s = Store.open(store_url, cipher=store_cipher, student_secret=student_secret)
    try:
        yield s
    finally:
        s.close()
