"""Regional agreements in the store: held V4 reports, and their release.

A V4 report of a student whose municipality wants no V4 reports
(:class:`~adapter.domain.regions.RegionalAgreements`, from ``[[municipalities]]``)
is stored ``held`` by :mod:`adapter.store.accept`: no submission, so it never
reaches DUO and blocks none of the student's other reports, and one
``regionale_afspraak`` signal (:func:`adapter.store.signals.raise_held`).

:func:`release_held` looks at every held report again under the agreements in
force (the daemon calls it at start-up, with the configuration it was started
with): a report they no longer hold becomes ``queued`` with a fresh
``aanleveren`` and its signal is closed, so it is sent like a new report.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.domain.regions import RegionalAgreements
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import held_by, release
from adapter.store.common import decode


def release_held(conn: Connection, agreements: RegionalAgreements, *, now: datetime) -> int:
    """Queue every held report ``agreements`` no longer hold; returns how many."""
    r = t.reports.c
    rows = conn.execute(sa.select(t.reports).where(r.state == S.HELD).order_by(r.id)
                        .with_for_update(key_share=True)).all()
    released = 0
    for row in rows:
        if held_by(conn, row.vendor, decode(row.payload), agreements,
                   skey=row.student_key) is None:
            release(conn, row, row.payload, row.content_hash, now)
            released += 1
    return released
