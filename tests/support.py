"""Helpers shared by the test packages (importable as ``support``: tests/ is on sys.path)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from adapter.simulator.server import SimulatorServer

SCHOOL_OIN = "00000099000000000001"

#: The school's "today" for tests that build records relative to a day: handed to the
#: simulator (``SimulatorServer(today=fixed_today)``) and used for the records, so no
#: test depends on the date or the hour it runs (a Monday in a school week).
TODAY = date(2026, 3, 16)


def broker_env() -> dict[str, str]:
    """This environment on the real clock: RabbitMQ's own tools (an Erlang VM) must not
    run under the tests' moved clock (``scripts/testclock.py``'s libfaketime)."""
    return {k: v for k, v in os.environ.items()
            if k != "LD_PRELOAD" and not k.startswith(("FAKETIME", "DONT_FAKE"))}


def rabbitmqctl(*args: str, attempts: int = 3) -> str:
    """``rabbitmqctl -q ARGS`` on the real clock; its stdout. A busy machine sometimes
    makes the CLI fail to reach the node: tried ``attempts`` times, a second apart, then
    an error naming the command and the CLI's own message."""
    done = None
    for attempt in range(attempts):
        done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                              timeout=60, check=False, env=broker_env())
        if done.returncode == 0:
            return done.stdout
        time.sleep(1.0 + attempt)
    assert done is not None
    raise RuntimeError(f"rabbitmqctl {args[0]} failed {attempts} times: {done.stderr.strip()}")


def fixed_today() -> date:
    """:data:`TODAY`, as the ``today`` callable the simulator and the intake take."""
    return TODAY


def valid_bsn(n: int) -> str:
    """The ``n``-th of a fixed series of fictional BSNs passing the 11-proef (distinct per n).

    For tests that register several reports: the simulator keeps one open report per
    student, verzuimsoort and period, as DUO would, so each needs its own student."""
    candidate = 200_000_000 + n * 1_000
    while (sum(w * int(d) for w, d in zip(range(9, 1, -1), str(candidate)))
           - candidate % 10) % 11:
        candidate += 1
    return str(candidate)


def control(sim: SimulatorServer, path: str, body: Any = None) -> Any:
    """Call the simulator's control API (plain HTTP on loopback): GET, or POST with JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = Request(f"{sim.control_url}/{path.lstrip('/')}", data=data,
                  method="GET" if body is None else "POST",
                  headers={"Content-Type": "application/json"})
    with urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback test server
        return json.loads(resp.read() or b"null")


def store_secrets(work: Path, store: str) -> list[str]:
    """Config lines for a store's secrets: PostgreSQL has no place beside the database
    for generated keys, so key files are written to ``work`` (0600); SQLite needs none."""
    if not store.startswith("postgresql"):
        return []
    key, student = work / "store.key", work / "student.key"
    key.write_text(Fernet.generate_key().decode() + "\n")
    student.write_text(secrets.token_urlsafe(40) + "\n")
    for path in (key, student):
        path.chmod(0o600)
    return [f'encryption_key_file = "{key}"', f'student_key_secret_file = "{student}"']


#: The test PostgreSQL server's admin URL (``VERZUIM_TEST_PG``).
PG_ADMIN_URL = os.environ.get(
    "VERZUIM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_url(name: str, *, port: int | None = None) -> str:
    """The URL of database ``name`` on the test server (``port``: through a proxy)."""
    url = sa.make_url(PG_ADMIN_URL).set(database=name)
    if port is not None:
        url = url.set(host="127.0.0.1", port=port)
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """The name of a new database (``<prefix>_<random>``) on the test server, dropped
    with everything in it afterwards. When the server does not answer the test is
    skipped, or fails when ``CI`` is set (CI must run the PostgreSQL variants)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 3})
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but does not answer: {exc.orig}")
        pytest.skip("PostgreSQL does not answer on " + PG_ADMIN_URL)
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
