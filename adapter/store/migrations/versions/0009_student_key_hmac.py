"""Student keys become HMACs with a secret: re-key the stored rows.

Up to 0008 a student key was the SHA-256 of BRIN and BSN (or onderwijsnummer),
and ``student_aliases.leerling_key`` the SHA-256 of vendor, BRIN and
leerlingnummer: a BSN has nine digits, so such a hash is reversed in seconds.
From here both are ``HMAC-SHA256(secret, <that SHA-256>)``
(:mod:`adapter.store.pseudonyms`), so every stored key is re-keyed as
``HMAC(secret, old key)`` without the BSN, which sits in encrypted columns.

The secret comes from the store that runs the migration
(``config.attributes["student_secret"]``, set by
:meth:`adapter.store.engine.Database.migrate`). Without one, a store holding
keys is refused (an empty one just gets the table). The new table
``store_checks`` keeps the secret's fingerprint (never the secret), which start-up
compares, so a wrong or changed secret is refused instead of splitting students.

The distinct keys go into a temporary map (old key -> new key) and each
column is updated from it in one statement: a store of 200 000 registrations
is re-keyed in seconds (one HMAC per student, one index look-up per row).

Downgrade: a keyed hash cannot be turned back, so the keys stay keyed and
``store_checks`` stays with the fingerprint, which tells a later upgrade that
the rows are keyed already (they are not re-keyed twice). An adapter older than
0009 must not run on a downgraded store (it would make unkeyed keys for new
records and split those students); to go back, restore the backup made before
the upgrade.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CHECK_NAME = "student_key_check"
#: (table, column) of every stored key: student keys, and the SIS number's hashes.
_KEYED = (
    ("reports", "student_key"),
    ("submissions", "student_key"),
    ("registraties", "student_key"),
    ("signals", "student_key"),
    ("student_aliases", "student_key"),
    ("student_aliases", "leerling_key"),
)
_MAP = "student_key_map_0009"
_BATCH = 1000


def _holds_keys(conn: Any) -> bool:
    return any(conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None
               for table in dict(_KEYED))


def _rekey(conn: Any, secret: Any) -> None:
    """Every stored key ``k`` becomes ``secret.rekey(k)``: a temporary map of the distinct
    keys, then one ``UPDATE`` per column reading the new key from the map (its primary
    key: one index look-up per row, on SQLite and PostgreSQL alike)."""
    old: set[str] = set()
    for table, column in _KEYED:
        old.update(conn.execute(sa.text(f"SELECT DISTINCT {column} FROM {table}")).scalars())
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE {_MAP} (old_key VARCHAR(64) PRIMARY KEY, "
                         "new_key VARCHAR(64) NOT NULL)"))
    mapping = sa.table(_MAP, sa.column("old_key"), sa.column("new_key"))
    values = [{"old_key": key, "new_key": secret.rekey(key)} for key in sorted(old)]
    for start in range(0, len(values), _BATCH):
        conn.execute(mapping.insert(), values[start:start + _BATCH])
    for table, column in _KEYED:
        conn.execute(sa.text(
            f"UPDATE {table} SET {column} = (SELECT m.new_key FROM {_MAP} m "
            f"WHERE m.old_key = {table}.{column})"))
    conn.execute(sa.text(f"DROP TABLE {_MAP}"))


def upgrade() -> None:
    conn = op.get_bind()
    if not sa.inspect(conn).has_table("store_checks"):
        op.create_table(
            "store_checks",
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("value", sa.String(128), nullable=False),
        )
    checks = sa.table("store_checks", sa.column("name"), sa.column("value"))
    if conn.execute(sa.select(checks.c.value).where(checks.c.name == CHECK_NAME)
                    ).first() is not None:
        return   # keyed already: downgraded from here and upgraded again (see downgrade)
    secret = context.config.attributes.get("student_secret")
    if secret is None:
        if _holds_keys(conn):
            raise RuntimeError("migration 0009 re-keys the stored student keys and needs the "
                               "student key secret: start the adapter to migrate")
        return
    _rekey(conn, secret)
    op.bulk_insert(checks, [{"name": CHECK_NAME, "value": secret.fingerprint()}])


def downgrade() -> None:
    """Nothing to undo that can be undone: keys and fingerprint stay (see above)."""
