"""Many new rows of one table in one go, the cheapest way each database offers.

- **SQLite**: ``executemany``; the sqlite3 module runs the rows in C.
- **PostgreSQL**, from :data:`COPY_FROM` rows on: ``COPY … FROM STDIN``. psycopg
  formats the rows in C and sends them in one stream. ``executemany`` costs the driver
  a round of its pipeline per row (40–100 µs of the daemon's CPU on a small
  machine); such rows took over half of the CPU the daemon spent in its statements
  (docs/performance.md, round 12). Fewer rows go as ``executemany``: below that, COPY's
  own set-up costs more than it saves. The rows go in COPY's binary format when every
  column's type has a binary form here (:func:`_binary_type`): binary data is then sent
  as it is, not spelled out in hex at twice its size for the server to read back. For a
  row of sealed SOAP envelopes that took the daemon's CPU from about 47 to 18 µs and the
  server's from about 98 to 52 (docs/performance.md, round 19).

Only plain inserts: COPY knows no ``ON CONFLICT`` and returns no ids. Each value passes
its column's bind processing (encryption, UTC stamps), as in an ``INSERT``. A column that
the rows leave out gets its server default, as in an ``INSERT`` that does not name it.
Every row names the columns of the first one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from adapter.store.schema import UTCDateTime

#: From this many rows on, PostgreSQL takes them by COPY.
COPY_FROM = 6


class _Copy(NamedTuple):
    sql: str
    processors: tuple[Callable[[Any], Any] | None, ...]
    types: tuple[str, ...] | None       # the binary format's column types; None: text


# Per dialect: a bind processor may hold its engine's key (encrypted columns).
_PLANS: WeakKeyDictionary[Dialect, dict[tuple[str, tuple[str, ...]], _Copy]] = WeakKeyDictionary()
_INSERTS: dict[str, sa.Insert] = {}


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (column name → value) into ``table`` in order, in the caller's
    transaction. A failure is raised as SQLAlchemy raises it for an ``INSERT``
    (``sqlalchemy.exc.DBAPIError`` and its kinds), so the store classifies it alike."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        conn.execute(_insert(table), list(rows))
        return
    names = tuple(rows[0])
    plan = _plan(conn.dialect, table, names)
    raw: Any = conn.connection.dbapi_connection
    try:
        with raw.cursor() as cursor, cursor.copy(plan.sql) as copy:
            if plan.types is not None:
                copy.set_types(plan.types)
            for row in rows:
                copy.write_row([value if process is None else process(value)
                                for value, process in zip(map(row.__getitem__, names),
                                                          plan.processors)])
    except raw.Error as exc:
        raise sa.exc.DBAPIError.instance(plan.sql, None, exc, raw.Error,
                                         hide_parameters=True, dialect=conn.dialect) from exc


def _insert(table: sa.Table) -> sa.Insert:
    """The table's ``INSERT``, built once: its cache key is not computed per call."""
    stmt = _INSERTS.get(table.name)
    if stmt is None:
        stmt = _INSERTS[table.name] = table.insert()
    return stmt


def _plan(dialect: Dialect, table: sa.Table, names: tuple[str, ...]) -> _Copy:
    """The COPY statement for these columns and each column's bind processor (built once
    per dialect)."""
    plans = _PLANS.setdefault(dialect, {})
    key = (table.name, names)
    plan = plans.get(key)
    if plan is None:
        preparer = dialect.identifier_preparer
        columns = ", ".join(preparer.quote(name) for name in names)
        kinds = [_binary_type(table.c[name].type) for name in names]
        types = None if None in kinds else tuple(str(kind) for kind in kinds)
        plan = plans[key] = _Copy(
            f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN"
            + ("" if types is None else " (FORMAT BINARY)"),
            tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                  for name in names),
            types)
    return plan


def _binary_type(column_type: sa.types.TypeEngine[Any]) -> str | None:
    """The PostgreSQL type a column's bound values are sent as in binary COPY, or None
    when this module does not know its binary form (the plan then uses text).

    A type decorator is sent as its underlying type, since its bind processor has made
    the value one. A timestamp only as :class:`~adapter.store.schema.UTCDateTime`, whose
    values are always aware (binary ``timestamptz`` needs that). A JSON value is the
    dialect's JSON wrapper, which psycopg dumps in either format."""
    if isinstance(column_type, UTCDateTime):
        return "timestamptz"
    base = (column_type.impl_instance if isinstance(column_type, sa.TypeDecorator)
            else column_type)
    for kind, name in _BINARY_TYPES:
        if isinstance(base, kind):
            return name
    return None


#: SQLAlchemy types and the PostgreSQL types their values are sent as (the first that
#: matches; ``BigInteger`` before ``Integer``, of which it is a kind). A ``String``
#: goes as ``text`` into any character column: the server still checks its length.
_BINARY_TYPES: tuple[tuple[type[sa.types.TypeEngine[Any]], str], ...] = (
    (sa.BigInteger, "int8"), (sa.SmallInteger, "int2"), (sa.Integer, "int4"),
    (sa.String, "text"), (sa.LargeBinary, "bytea"), (sa.JSON, "json"),
    (sa.Boolean, "bool"), (sa.Date, "date"),
)
