"""Storing one chunk's registrations with a bounded number of statements.

:func:`store_registraties` is the write side of :mod:`adapter.store.registraties`.
Per chunk it runs, whatever the number of rows: the student keys of the chunk
(:func:`adapter.store.students.student_keys`: a look-up, an insert of the SIS
student numbers seen first and a read-back, per BRIN and 500 numbers), one
``SELECT … FOR UPDATE`` of the stored versions of the chunk's keys (``IN`` over the unique business key, per
BRIN and per :data:`BATCH` keys), one multi-row ``INSERT``, one ``UPDATE`` by id
executed for many rows, and for registrations split per day one indexed look-up
of their groups' other days (``ix_registraties_base``) plus one ``UPDATE`` of the
days to retire. Nothing here scans the table: the cost of a chunk does not grow
with the registrations already stored.

The outcome is the same as storing the items one by one in message order:

- a new key is inserted; the same content is left alone; an older
  ``modified_at`` than the stored (or earlier in the chunk) version is ignored;
  anything else replaces it (the students of both versions are touched);
- a registration split per day (``<id>@<date>``) is replaced as a whole: days of
  ``<id>`` that a newer version in the chunk no longer lists are marked deleted,
  unless already deleted or the stored day is newer than every day of ``<id>`` in
  the chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.codec import registratie_to_dict
from adapter.store import schema as t
from adapter.store.api import IncomingRegistratie
from adapter.store.common import as_utc, content_hash
from adapter.store.students import student_keys

Key = tuple[str, str, str]  # vendor, BRIN, student key
#: Keys per ``IN (…)`` list: far below every driver's limit on bound parameters.
BATCH = 500
#: PostgreSQL: analyse a table once this many rows + this share of it changed since.
STALE_ROWS, STALE_SHARE = 1000, 0.2
T = TypeVar("T")


@dataclass(frozen=True)
class _Version:
    """One version of a registration: incoming (``row_id`` None) or as stored."""

    brin: str
    source_id: str
    student_key: str
    content_hash: str
    modified_at: datetime | None
    row_id: int | None = None
    values: dict[str, Any] | None = None   # the columns to write (incoming only)


def base_of(source_id: str) -> str | None:
    """``<id>`` of a registration split per day (``<id>@<date>``), else None."""
    return source_id.rsplit("@", 1)[0] if "@" in source_id else None


def batched(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def store_registraties(conn: Connection, vendor: str, items: Sequence[IncomingRegistratie],
                       now: datetime) -> set[Key]:
    """Store, replace and retire a chunk's registrations; the students whose days changed."""
    if not items:
        return set()
    keys = student_keys(conn, vendor, [(i.registratie.brin, i.registratie.student,
                                        i.registratie.source_id) for i in items], now=now)
    incoming = [_incoming(vendor, item, now, skey) for item, skey in zip(items, keys)]
    stored = _stored(conn, vendor, {(v.brin, v.source_id) for v in incoming})
    latest: dict[tuple[str, str], _Version] = {}
    touched: set[Key] = set()
    for version in incoming:   # the one-by-one rules, folded in message order
        key = (version.brin, version.source_id)
        current = latest.get(key) or stored.get(key)
        if current is None:
            touched.add((vendor, version.brin, version.student_key))
        elif current.content_hash == version.content_hash:
            continue
        elif (version.modified_at is not None and current.modified_at is not None
              and version.modified_at < current.modified_at):
            continue   # an older version arrived late
        else:
            # Both students when a correction moved the registration to another one.
            touched |= {(vendor, version.brin, version.student_key),
                        (vendor, version.brin, current.student_key)}
        latest[key] = version
    new = [v.values for k, v in latest.items() if k not in stored and v.values is not None]
    if new:
        conn.execute(t.registraties.insert(), new)
    changed = [{"row_id": stored[k].row_id, **_changed_columns(v)}
               for k, v in latest.items() if k in stored]
    if changed:
        r = t.registraties.c
        conn.execute(t.registraties.update().where(r.id == sa.bindparam("row_id")).values(
            {name: _param(name) for name in _UPDATED}), changed)
    return touched | _retire_missing_days(conn, vendor, incoming, now)


_UPDATED = ("student_key", "datum", "payload", "content_hash", "modified_at", "updated_at")


def keep_statistics(conn: Connection, tables: Sequence[str]) -> None:
    """PostgreSQL: ``ANALYZE`` each of ``tables`` whose planner statistics lag behind.

    The ``IN`` look-ups above use their index only when the planner knows how
    many rows share a vendor and BRIN; a table that grows from nothing to a
    year of registrations in minutes outruns autovacuum (or runs where it is
    off), and a planner that still thinks the table is tiny filters the whole
    school's rows per look-up instead. One cheap statistics read per chunk;
    an ``ANALYZE`` (a sample, not a scan) once :data:`STALE_ROWS` rows plus
    :data:`STALE_SHARE` of the table changed since the last one. Run it in a
    transaction of its own (``Store.accept`` does, after the chunk's commit):
    inside one holding row locks, two replicas analysing at once could deadlock.
    """
    if conn.dialect.name != "postgresql":
        return   # SQLite's planner prefers the index matching the most columns without stats
    rows = conn.execute(sa.text(
        "SELECT s.relname, c.reltuples, s.n_mod_since_analyze FROM pg_stat_user_tables s "
        "JOIN pg_class c ON c.oid = s.relid "
        "WHERE s.schemaname = current_schema() AND s.relname IN :tables").bindparams(
        sa.bindparam("tables", expanding=True)), {"tables": list(tables)}).all()
    for name, reltuples, changed in rows:
        if changed > STALE_ROWS + STALE_SHARE * max(reltuples, 0):
            conn.exec_driver_sql(f'ANALYZE "{name}"')


def _param(column: str) -> sa.BindParameter[Any]:
    """``new_<column>`` bound with the column's type (JSON, dates, UTC timestamps)."""
    return sa.bindparam(f"new_{column}", type_=t.registraties.c[column].type)


def _changed_columns(version: _Version) -> dict[str, Any]:
    assert version.values is not None
    return {f"new_{name}": version.values[name] for name in _UPDATED}


def _incoming(vendor: str, item: IncomingRegistratie, now: datetime, skey: str) -> _Version:
    reg = item.registratie
    payload = registratie_to_dict(reg)
    digest = content_hash(payload)
    modified = as_utc(reg.modified_at) if reg.modified_at else None
    return _Version(reg.brin, reg.source_id, skey, digest, modified, values=dict(
        vendor=vendor, brin=reg.brin, source_id=reg.source_id, student_key=skey,
        datum=reg.datum, payload=payload, content_hash=digest, modified_at=modified,
        received_at=now, updated_at=now, base_id=base_of(reg.source_id)))


def _by_brin(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for brin, value in sorted(keys):
        out.setdefault(brin, []).append(value)
    return out


def _stored(conn: Connection, vendor: str, keys: set[tuple[str, str]]
            ) -> dict[tuple[str, str], _Version]:
    """The stored versions of ``keys`` (BRIN, source id), locked for update."""
    r = t.registraties.c
    found: dict[tuple[str, str], _Version] = {}
    for brin, source_ids in _by_brin(keys).items():
        for batch in batched(source_ids):
            rows = conn.execute(
                sa.select(r.id, r.source_id, r.student_key, r.content_hash, r.modified_at)
                .where(r.vendor == vendor, r.brin == brin, r.source_id.in_(batch))
                .order_by(r.id).with_for_update()).all()
            for row in rows:
                found[(brin, row.source_id)] = _Version(
                    brin, row.source_id, row.student_key, row.content_hash, row.modified_at,
                    row_id=row.id)
    return found


def _retire_missing_days(conn: Connection, vendor: str, incoming: Sequence[_Version],
                         now: datetime) -> set[Key]:
    """Mark deleted the stored days of each ``<id>`` in the chunk that it no longer lists."""
    present: set[str] = set()
    newest: dict[tuple[str, str], datetime | None] = {}
    for version in incoming:
        base = base_of(version.source_id)
        if base is None:
            continue
        present.add(version.source_id)
        stamp = newest.get((version.brin, base))
        if version.modified_at is not None and (stamp is None or version.modified_at > stamp):
            stamp = version.modified_at
        newest[(version.brin, base)] = stamp
    r = t.registraties.c
    candidates: list[int] = []
    for brin, bases in _by_brin(newest).items():
        for batch in batched(bases):
            rows = conn.execute(
                sa.select(r.id, r.source_id, r.base_id, r.modified_at)
                .where(r.vendor == vendor, r.brin == brin, r.base_id.in_(batch))
                .order_by(r.id).with_for_update()).all()
            for row in rows:
                stamp = newest[(brin, row.base_id)]
                if row.source_id in present or (
                        stamp is not None and row.modified_at is not None
                        and row.modified_at > stamp):
                    continue
                candidates.append(row.id)
    touched: set[Key] = set()
    retired: list[dict[str, Any]] = []
    for ids in batched(candidates):
        rows = conn.execute(sa.select(r.id, r.brin, r.student_key, r.payload)
                            .where(r.id.in_(ids)).order_by(r.id)).all()
        for row in rows:
            if row.payload.get("deleted"):
                continue
            payload = {**row.payload, "deleted": True}
            retired.append({"row_id": row.id, "new_payload": payload,
                            "new_content_hash": content_hash(payload), "new_updated_at": now})
            touched.add((vendor, row.brin, row.student_key))
    if retired:
        conn.execute(t.registraties.update().where(r.id == sa.bindparam("row_id")).values(
            payload=_param("payload"), content_hash=_param("content_hash"),
            updated_at=_param("updated_at")), retired)
    return touched
