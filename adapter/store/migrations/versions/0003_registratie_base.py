"""Registrations split per day keep their base id, indexed (set-based intake).

``registraties.base_id`` is ``<id>`` of a registration split per school day
(``source_id`` ``<id>@<date>``: the part before the last ``@``), NULL for any
other. Retiring the days a newer version no longer lists then finds a chunk's
groups through ``ix_registraties_base`` instead of scanning the table with
``LIKE '<id>@%'``. Existing rows are filled in here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("registraties") as batch:
        batch.add_column(sa.Column("base_id", sa.String(255), nullable=True))
    conn = op.get_bind()
    table = sa.table("registraties", sa.column("id", sa.Integer),
                     sa.column("source_id", sa.String), sa.column("base_id", sa.String))
    rows = conn.execute(sa.select(table.c.id, table.c.source_id)
                        .where(table.c.source_id.contains("@", autoescape=True))).all()
    update = (table.update().where(table.c.id == sa.bindparam("row_id"))
              .values(base_id=sa.bindparam("base")))
    for start in range(0, len(rows), _BATCH):
        conn.execute(update, [{"row_id": row.id, "base": row.source_id.rsplit("@", 1)[0]}
                              for row in rows[start:start + _BATCH]])
    op.create_index("ix_registraties_base", "registraties", ["vendor", "brin", "base_id"])


def downgrade() -> None:
    op.drop_index("ix_registraties_base", table_name="registraties")
    with op.batch_alter_table("registraties") as batch:
        batch.drop_column("base_id")
