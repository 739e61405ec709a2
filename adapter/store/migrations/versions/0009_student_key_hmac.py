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

Each column is re-keyed per distinct value with one ``executemany`` (the
columns that lack an index of their own are matched with vendor and BRIN,
the leading columns of theirs): a store of 200 000 registrations needs one
statement per table, not per row.

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
#: (table, columns naming one key: the key column last).
_KEYED = (
    ("reports", ("student_key",)),
    ("submissions", ("student_key",)),
    ("registraties", ("vendor", "brin", "student_key")),
    ("signals", ("vendor", "brin", "student_key")),
)
_BATCH = 1000


def _holds_keys(conn: Any) -> bool:
    tables = [*(name for name, _ in _KEYED), "student_aliases"]
    return any(conn.execute(sa.text(f"SELECT 1 FROM {name} LIMIT 1")).first() is not None
               for name in tables)


def _rekey_column(conn: Any, name: str, columns: tuple[str, ...], secret: Any) -> None:
    table = sa.table(name, *(sa.column(c) for c in columns))
    rows = conn.execute(sa.select(*table.c).distinct()).all()
    match = [table.c[c] == sa.bindparam(f"old_{c}") for c in columns]
    update = table.update().where(*match).values(student_key=sa.bindparam("new_key"))
    values = [{**{f"old_{c}": v for c, v in zip(columns, row)},
               "new_key": secret.rekey(row[-1])} for row in rows]
    for start in range(0, len(values), _BATCH):
        conn.execute(update, values[start:start + _BATCH])


def _rekey_aliases(conn: Any, secret: Any) -> None:
    table = sa.table("student_aliases", sa.column("id"), sa.column("leerling_key"),
                     sa.column("student_key"))
    rows = conn.execute(sa.select(table.c.id, table.c.leerling_key,
                                  table.c.student_key)).all()
    update = table.update().where(table.c.id == sa.bindparam("row_id")).values(
        leerling_key=sa.bindparam("new_lkey"), student_key=sa.bindparam("new_skey"))
    values = [{"row_id": row.id, "new_lkey": secret.rekey(row.leerling_key),
               "new_skey": secret.rekey(row.student_key)} for row in rows]
    for start in range(0, len(values), _BATCH):
        conn.execute(update, values[start:start + _BATCH])


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
    for name, columns in _KEYED:
        _rekey_column(conn, name, columns, secret)
    _rekey_aliases(conn, secret)
    op.bulk_insert(checks, [{"name": CHECK_NAME, "value": secret.fingerprint()}])


def downgrade() -> None:
    """Nothing to undo that can be undone: keys and fingerprint stay (see above)."""
