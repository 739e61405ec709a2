"""PostgreSQL stores the envelopes and attachments as they come, without trying to
compress them.

A value over about 2 KB is compressed by PostgreSQL (pglz) before it is stored, unless
the column's storage says otherwise. These columns hold encrypted values (with
encryption at rest on, the default), which do not compress: PostgreSQL tried and gave
up on each, at about 250 µs of its CPU for the two envelopes of a report. The
adapter compresses them itself before it encrypts them (``enc:z1:``,
:mod:`adapter.store.crypto`). ``EXTERNAL`` keeps the out-of-line storage of large
values and leaves out the attempt. SQLite has no such step: nothing to do there.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = (("exchanges", "request_xml"), ("exchanges", "response_xml"),
           ("bijlagen", "content"))


def _storage(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {kind}")


def upgrade() -> None:
    _storage("EXTERNAL")


def downgrade() -> None:
    _storage("EXTENDED")
