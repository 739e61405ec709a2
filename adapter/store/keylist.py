"""A column matched against a list of keys, bound as one parameter where the database can.

``in_list(column, "ids")`` is ``column IN (:ids…)`` with an expanding parameter: the
list goes in at execution (``{"ids": [...]}``), however long. SQLAlchemy writes each
length out as a statement of its own (one placeholder per key), and psycopg converts
a statement text it has not seen before anew. So on PostgreSQL it is ``column =
ANY(:ids)`` instead, the list one array parameter: one text for every length, and
about 4 µs of the daemon's CPU less per key (docs/performance.md, round 14). SQLite
has no arrays and keeps the ``IN`` list.

Only for keys (ids, meldingsnummers, student keys): the array takes the column's own
type, and a type with a bind processor of its own (encryption) is not meant here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InList(ColumnElement[bool]):
    """``column`` is one of the keys bound as ``name`` (see the module docstring)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


def in_list(column: ColumnElement[Any], name: str) -> InList:
    """``column`` IN the list given at execution as parameter ``name``."""
    return InList(column, name)


@compiles(InList)
def _expanding(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(sa.bindparam(element.name, expanding=True)),
                            **kw)


@compiles(InList, "postgresql")
def _any(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    keys = sa.bindparam(element.name, type_=postgresql.ARRAY(element.column.type))
    return compiler.process(element.column == sa.any_(keys), **kw)
