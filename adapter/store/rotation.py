"""The key check at open and ``archive rotate-key`` (see :mod:`adapter.store.crypto`).

Both read the stored form of the encrypted columns (``type_coerce`` to the
plain column type, so nothing is decrypted by the column type itself).
Rotation walks each table by primary key, ``batch`` rows per short write
transaction (rows locked ``FOR UPDATE`` on PostgreSQL, the write lock on
SQLite), so the daemon keeps running; it rewrites a value only when it was not
made with the newest key (clear values, from before encryption, included), so
an interrupted rotation just runs again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.errors import ConfigError
from adapter.store.crypto import (
    PREFIX,
    Cipher,
    EncryptedBytes,
    KeyMismatch,
    cipher_of,
    is_sealed,
    token_of,
)
from adapter.store.engine import Database
from adapter.store.schema import ENCRYPTED


def _raw_type(column: sa.Column[Any]) -> sa.types.TypeEngine[Any]:
    return sa.LargeBinary() if isinstance(column.type, EncryptedBytes) else sa.JSON()


def _raw(column: sa.Column[Any]) -> Any:
    return sa.type_coerce(column, _raw_type(column)).label(column.name)


def _pk(table: sa.Table) -> sa.Column[Any]:
    return next(iter(table.primary_key.columns))


def check_key(conn: Connection) -> None:
    """Decrypt the newest value of each encrypted column; ConfigError when it cannot."""
    cipher = cipher_of(conn.dialect)
    for table, names in ENCRYPTED:
        for name in names:
            column = table.c[name]
            value = conn.execute(sa.select(_raw(column)).where(column.is_not(None))
                                 .order_by(_pk(table).desc()).limit(1)).scalar()
            if not is_sealed(value):
                continue
            if cipher is None:
                raise ConfigError("the store holds encrypted data but store.encryption is "
                                  "\"off\"; configure its key")
            try:
                cipher.decrypt(token_of(value))
            except KeyMismatch:
                raise ConfigError("the store's data cannot be decrypted with the configured "
                                  "key (store.encryption_key_file / encryption_key_env): "
                                  "wrong key, or the old key was removed before "
                                  "archive rotate-key") from None


def row_count(conn: Connection) -> int:
    return sum(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
               for table, _names in ENCRYPTED)


def _reseal(cipher: Cipher, column: sa.Column[Any], value: Any) -> Any:
    """The value sealed with the newest key, or None when it already is (or is NULL)."""
    if value is None:
        return None
    binary = isinstance(column.type, EncryptedBytes)
    if is_sealed(value):
        token = token_of(value)
        if cipher.is_current(token):
            return None
        sealed: Any = (cipher.seal_bytes(cipher.open_bytes(value)) if binary
                       else PREFIX + cipher.encrypt(cipher.decrypt(token)).decode("ascii"))
        return sealed
    return cipher.seal_bytes(bytes(value)) if binary else cipher.seal_text(value)


def rotate(db: Database, cipher: Cipher, *, batch: int,
           progress: Callable[[int], None] | None) -> int:
    rewritten = 0
    for table, names in ENCRYPTED:
        pk = _pk(table)
        columns = [table.c[name] for name in names]
        last: Any = None

        def one_batch(conn: Connection) -> tuple[Any, int, int]:
            query = sa.select(pk, *[_raw(c) for c in columns]).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            rows = conn.execute(query.with_for_update()).all()
            changed = 0
            for row in rows:
                values = {}
                for column in columns:
                    new = _reseal(cipher, column, getattr(row, column.name))
                    if new is not None:
                        values[column.name] = sa.type_coerce(
                            sa.bindparam(None, new, type_=_raw_type(column)), _raw_type(column))
                if values:
                    conn.execute(table.update().where(pk == row[0]).values(values))
                    changed += 1
            return (rows[-1][0] if rows else None), len(rows), changed

        while True:
            last_seen, seen, changed = db.run("rotate_key", one_batch)
            rewritten += changed
            if progress is not None and seen:
                progress(seen)
            if seen < batch:
                break
            last = last_seen
    return rewritten
