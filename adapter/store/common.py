"""Small helpers shared by the store's modules: keys, hashes, rows, events.

Everything here runs inside a transaction the caller owns (a ``Connection``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from adapter.domain.codec import melding_from_dict, melding_to_dict
from adapter.domain.model import Student, Verzuimmelding
from adapter.store import schema as t
from adapter.store.bulk import insert_rows
from adapter.store.pseudonyms import StudentKeySecret, need_secret

#: namespace of the uuid5 message ids of outbox events (stable across versions).
EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:verzuim-adapter:events")
MAX_ERROR_CHARS = 2000


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime:
    """``value`` as an aware UTC datetime (naive means UTC); ``None`` means now."""
    if value is None:
        return utcnow()
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def event_uuid(*parts: str) -> str:
    """A stable uuid5 for an outbox event built from ``parts``."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "\x1f".join(parts)))


def student_key(conn: Connection, melding: Verzuimmelding) -> str:
    """The keyed hash of BRIN and student number: groups a student's reports without the id."""
    return student_key_of(need_secret(conn), melding.brin, melding.student,
                          fallback=melding.source_id)


def student_key_of(secret: StudentKeySecret, brin: str, student: Student, *,
                   fallback: str) -> str:
    """The student key for any record of ``student`` at ``brin`` (reports, registrations):
    :meth:`StudentKeySecret.key <adapter.store.pseudonyms.StudentKeySecret.key>` of BRIN
    and BSN or onderwijsnummer."""
    if student.bsn:
        ident = f"bsn:{student.bsn}"
    elif student.onderwijsnummer:
        ident = f"onr:{student.onderwijsnummer}"
    else:  # validation forbids this; fall back to the record so ordering stays per record
        ident = f"src:{fallback}"
    return secret.key(f"{brin}\x1f{ident}")


def record_key(secret: StudentKeySecret, brin: str, source_id: str) -> str:
    """The student key of a record that names no student (a report typed into DUO's web
    counter): keyed like a student's, from BRIN and its business key."""
    return secret.key(f"{brin}\x1f{source_id}")


def encode(melding: Verzuimmelding) -> dict[str, Any]:
    return melding_to_dict(melding)


def decode(payload: Mapping[str, Any]) -> Verzuimmelding:
    return melding_from_dict(dict(payload))


def content_hash(payload: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a payload, ignoring ``modified_at``.

    ``modified_at`` orders versions; a re-export that changes only the stamp is
    not new content and must not cause a ``wijzigen``.
    """
    body = {k: v for k, v in payload.items() if k != "modified_at"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


def insert_ignore(conn: Connection, table: sa.Table, values: dict[str, Any],
                  conflict: list[str]) -> Any:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING``; the new primary key, or None on conflict.

    On PostgreSQL a concurrent insert of the same key waits for the other
    transaction and then reports the conflict, so callers see one winner.
    """
    return conn.execute(_ignoring(conn, table, conflict, returning=True),
                        values).scalar_one_or_none()


def insert_ignore_many(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                       conflict: list[str]) -> None:
    """:func:`insert_ignore` for several rows in one statement, in order (no keys back)."""
    if rows:
        conn.execute(_ignoring(conn, table, conflict, returning=False), list(rows))


def _ignoring(conn: Connection, table: sa.Table, conflict: list[str], *,
              returning: bool) -> Any:
    """The ``ON CONFLICT DO NOTHING`` insert, built once per table: no statement
    construction per row."""
    cache_key = (conn.dialect.name, table.name, tuple(conflict), returning)
    stmt = _IGNORING.get(cache_key)
    if stmt is None:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(table).on_conflict_do_nothing(index_elements=conflict)
        if returning:
            stmt = stmt.returning(next(iter(table.primary_key.columns)))
        _IGNORING[cache_key] = stmt
    return stmt


_IGNORING: dict[tuple[str, str, tuple[str, ...], bool], Any] = {}


def history(conn: Connection, report_id: int, event: str, *, at: datetime,
            from_state: str | None = None, to_state: str | None = None,
            submission_id: int | None = None, detail: str | None = None) -> None:
    """Append a history row. ``detail`` names ids, operations and codes, never personal data."""
    history_many(conn, [history_row(report_id, event, at=at, from_state=from_state,
                                    to_state=to_state, submission_id=submission_id,
                                    detail=detail)])


def history_row(report_id: int, event: str, *, at: datetime, from_state: str | None = None,
                to_state: str | None = None, submission_id: int | None = None,
                detail: str | None = None) -> dict[str, Any]:
    """The parameters of one history row, for :func:`history_many`."""
    return {"report_id": report_id, "submission_id": submission_id, "at": at,
            "from_state": from_state, "to_state": to_state, "event": event, "detail": detail}


def history_many(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Append several history rows (:func:`history_row`) in one statement."""
    insert_rows(conn, t.report_history, rows)


def new_document_id() -> str:
    """A fresh identificatiecodeBedrijfsdocument: created once per logical submission."""
    return str(uuid.uuid4())
