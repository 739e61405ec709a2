"""One student key per SIS student, when the SIS names its own student number.

The store groups a student's reports and registrations by a student key, a hash
keyed hash of BRIN and BSN or onderwijsnummer (:func:`~adapter.store.common.student_key_of`).
A student whose onderwijsnummer is later replaced by a BSN would get a second
key, and registrations stored under the first would no longer fill a report
sent with the second. When a record carries the SIS's ``leerlingnummer``, the
key first used for that (vendor, BRIN, leerlingnummer) is kept in
``student_aliases`` and used for every later record naming it, whichever
number it carries. Records without a ``leerlingnummer`` keep their natural key.
The table stores a keyed hash of the leerlingnummer (made like the student keys,
:mod:`adapter.store.pseudonyms`), never the number itself.

:func:`student_keys` resolves a whole chunk with a bounded number of
statements: one ``SELECT`` per BRIN and :data:`~adapter.store.registraties_bulk.BATCH`
numbers, one multi-row ``INSERT … ON CONFLICT DO NOTHING`` of the new ones and
one ``SELECT`` reading back the keys that won (a concurrent writer may have
inserted the same number first).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from adapter.domain.model import Student
from adapter.errors import ConfigError
from adapter.store import schema as t
from adapter.store.common import insert_ignore, student_key_of
from adapter.store.pseudonyms import CHECK_NAME, StudentKeySecret, need_secret

#: (BRIN, student, fallback id): what a key is computed from (see ``student_key_of``).
Subject = tuple[str, Student, str]
#: Numbers looked up or inserted per statement.
ALIAS_BATCH = 500


def leerling_key(secret: StudentKeySecret, vendor: str, brin: str, leerlingnummer: str) -> str:
    """Keyed hash of vendor, BRIN and the SIS's student number (the number is not stored)."""
    return secret.key(f"{vendor}\x1f{brin}\x1flln:{leerlingnummer}")


def student_keys(conn: Connection, vendor: str, subjects: Sequence[Subject], *,
                 now: datetime | None = None) -> list[str]:
    """The student key of each subject, in order.

    With ``now`` the aliases of leerlingnummers seen for the first time are
    stored (the first subject naming one in ``subjects`` decides its key);
    without it nothing is written and an unknown leerlingnummer keeps the
    natural key.
    """
    secret = need_secret(conn)
    natural = [student_key_of(secret, brin, student, fallback=fallback)
               for brin, student, fallback in subjects]
    wanted: dict[tuple[str, str], str] = {}
    aliases: list[tuple[str, str] | None] = []
    for (brin, student, _), skey in zip(subjects, natural):
        if not student.leerlingnummer:
            aliases.append(None)
            continue
        key = (brin, leerling_key(secret, vendor, brin, student.leerlingnummer))
        wanted.setdefault(key, skey)
        aliases.append(key)
    if not wanted:
        return natural
    found = _stored(conn, vendor, set(wanted))
    missing = [key for key in wanted if key not in found]
    if missing and now is not None:
        _insert(conn, vendor, [(key, wanted[key]) for key in missing], now)
        found.update(_stored(conn, vendor, set(missing)))
    return [found.get(key, skey) if key is not None else skey
            for key, skey in zip(aliases, natural)]


def student_key_for(conn: Connection, vendor: str, brin: str, student: Student, *,
                    fallback: str, now: datetime | None = None) -> str:
    """:func:`student_keys` for one record."""
    return student_keys(conn, vendor, [(brin, student, fallback)], now=now)[0]


def _stored(conn: Connection, vendor: str, keys: set[tuple[str, str]]
            ) -> dict[tuple[str, str], str]:
    a = t.student_aliases.c
    by_brin: dict[str, list[str]] = {}
    for brin, lkey in sorted(keys):
        by_brin.setdefault(brin, []).append(lkey)
    found: dict[tuple[str, str], str] = {}
    for brin, lkeys in by_brin.items():
        for start in range(0, len(lkeys), ALIAS_BATCH):
            rows = conn.execute(sa.select(a.leerling_key, a.student_key).where(
                a.vendor == vendor, a.brin == brin,
                a.leerling_key.in_(lkeys[start:start + ALIAS_BATCH]))).all()
            found.update({(brin, row.leerling_key): row.student_key for row in rows})
    return found


def _insert(conn: Connection, vendor: str, rows: list[tuple[tuple[str, str], str]],
            now: datetime) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = [{"vendor": vendor, "brin": brin, "leerling_key": lkey, "student_key": skey,
               "created_at": now} for (brin, lkey), skey in sorted(rows)]
    for start in range(0, len(values), ALIAS_BATCH):
        conn.execute(insert(t.student_aliases).values(values[start:start + ALIAS_BATCH])
                     .on_conflict_do_nothing(index_elements=["vendor", "brin", "leerling_key"]))


def check_secret(conn: Connection) -> None:
    """Compare the secret with the fingerprint in the database (stored on first use).

    A mismatch is a one-line ConfigError naming the setting, never a value.
    """
    fingerprint = need_secret(conn).fingerprint()
    c = t.store_checks.c
    stored = conn.execute(sa.select(c.value).where(c.name == CHECK_NAME)).scalar_one_or_none()
    if stored is None:
        insert_ignore(conn, t.store_checks, {"name": CHECK_NAME, "value": fingerprint},
                      ["name"])
        stored = conn.execute(sa.select(c.value).where(c.name == CHECK_NAME)).scalar_one()
    if not hmac.compare_digest(str(stored), fingerprint):
        raise ConfigError("store.student_key_secret(_file): not the secret this store's "
                          "student keys were made with; configure that secret again")
