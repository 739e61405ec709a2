"""Alembic environment for the store's migrations.

Run programmatically by :meth:`adapter.store.Store.open`, which passes an open
connection in ``config.attributes["connection"]``; no ``alembic.ini`` is needed.
For ad-hoc use, ``sqlalchemy.url`` in the Alembic config is honoured instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from adapter.store.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,      # SQLite needs batch mode for ALTER TABLE
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
