"""Many rows in one go (adapter.store.bulk): COPY on PostgreSQL stores what an INSERT does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.errors import StoreUnavailable
from adapter.store import Store
from adapter.store import schema as t
from adapter.store.bulk import COPY_FROM, _binary_type, insert_rows
from adapter.store.crypto import PREFIX
from adapter.store.rotation import _raw

from .factories import T0

MARKER = b"<env><reden>MRK-bulk-Grutto</reden></env>"


def exchanges(count: int, tag: str) -> list[dict[str, Any]]:
    """``count`` exchange rows: sealed bytes, a missing answer, stamps, ints and text."""
    return [{"submission_id": None, "operation": f"{tag}-{n}", "document_id": None,
             "message_id": f"urn:uuid:{tag}-{n}",
             "request_xml": MARKER + f"<n>{n}</n>".encode(),
             "response_xml": None if n % 2 else MARKER, "http_status": 200 + n,
             "outcome": "ok", "started_at": T0 + timedelta(seconds=n), "duration_ms": n}
            for n in range(count)]


def stored(store: Store, tag: str) -> list[dict[str, Any]]:
    with store.database.read("test") as conn:
        rows = conn.execute(sa.select(t.exchanges).where(t.exchanges.c.operation.like(f"{tag}-%"))
                            .order_by(t.exchanges.c.id)).mappings().all()
    return [{k: v for k, v in row.items() if k != "id"} for row in rows]


@pytest.mark.parametrize("count", [2, COPY_FROM, 3 * COPY_FROM])
def test_rows_read_back_as_written_in_their_order_and_sealed(store: Store, count: int) -> None:
    # 2 rows go as executemany everywhere; from COPY_FROM on, PostgreSQL takes COPY.
    rows = exchanges(count, "b")
    with store.database.write("test") as conn:
        insert_rows(conn, t.exchanges, rows)
    assert stored(store, "b") == rows
    with store.database.engine.connect() as conn:
        raw = conn.execute(sa.select(_raw(t.exchanges.c.request_xml))).scalars().all()
    assert len(raw) == count
    for value in raw:
        text = bytes(value).decode("latin-1")
        assert text.startswith(PREFIX) and "MRK-bulk" not in text


def test_copy_and_executemany_store_the_same(store: Store) -> None:
    small, large = exchanges(COPY_FROM - 1, "s"), exchanges(COPY_FROM, "l")
    with store.database.write("test") as conn:
        insert_rows(conn, t.exchanges, small)
        insert_rows(conn, t.exchanges, large)
    def contents(tag: str) -> list[dict[str, Any]]:    # without the names that differ
        return [{k: v for k, v in row.items() if k not in ("operation", "message_id")}
                for row in stored(store, tag)]
    assert contents("s") == contents("l")[:COPY_FROM - 1]


def test_a_refused_row_fails_its_transaction_as_an_insert_would(store: Store) -> None:
    rows = exchanges(COPY_FROM + 1, "f")
    rows[-1]["outcome"] = None          # NOT NULL
    with pytest.raises(sa.exc.IntegrityError):
        with store.database.write("test") as conn:
            insert_rows(conn, t.exchanges, exchanges(2, "kept"))
            insert_rows(conn, t.exchanges, rows)
    assert stored(store, "kept") == [] and stored(store, "f") == []
    with store.database.write("test") as conn:      # the store goes on
        insert_rows(conn, t.exchanges, exchanges(COPY_FROM, "after"))
    assert len(stored(store, "after")) == COPY_FROM


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)   # COPY is PostgreSQL's
def test_a_broken_connection_during_copy_is_the_store_unavailable(store: Store) -> None:
    assert store.database.dialect == "postgresql"
    with pytest.raises(StoreUnavailable):
        with store.database.write("test") as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with store.database.engine.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            insert_rows(conn, t.exchanges, exchanges(COPY_FROM, "gone"))
    with store.database.write("test") as conn:      # a fresh connection next time
        insert_rows(conn, t.exchanges, exchanges(COPY_FROM, "next"))
    assert len(stored(store, "next")) == COPY_FROM


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)   # COPY is PostgreSQL's
def test_a_value_too_long_for_its_column_fails_as_an_insert_would(store: Store) -> None:
    # binary COPY sends a string as text; the server still holds it to VARCHAR(64)
    rows = exchanges(COPY_FROM, "long")
    rows[-1]["outcome"] = "x" * 65
    with pytest.raises(sa.exc.DataError):
        with store.database.write("test") as conn:
            insert_rows(conn, t.exchanges, rows)
    assert stored(store, "long") == []


def test_every_column_of_the_store_goes_in_binary() -> None:
    # A column without a binary form sends its whole table's COPY as text, at about
    # twice the CPU for binary data (docs/performance.md, round 19): name it here.
    missing = [f"{table.name}.{column.name}" for table in t.metadata.sorted_tables
               for column in table.columns if _binary_type(column.type) is None]
    assert missing == []
