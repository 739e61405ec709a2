"""Leases: how replicas on one PostgreSQL store share the work without stepping on
each other.

- **Claims.** A claimed submission carries its owner (``claimed_by``, the replica's
  :attr:`~adapter.store.Store.replica`) and ``lease_until``. The owner renews the
  lease of every claim it holds (claimed ahead or in flight) while it works on it
  (:func:`renew_claims`). A claim whose lease ran out belongs to a replica that died,
  stopped renewing or lost the store: any live replica moves it to ``unknown``
  (:func:`recover_expired`), so it is looked up at DUO by its document id before
  anything is sent again. A live replica's claims are never touched, and an outcome
  for a claim another replica took over is refused (:class:`ClaimLost`).
- **Named leases** (``leases``): one holder at a time, e.g. the feedback poller
  (:func:`take`). The holder takes it again before each unit of work; a holder
  that cannot stops. :func:`drop` hands it over at once (a clean stop).

Every function runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from adapter.errors import AdapterError
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.states import IllegalTransition

_sub, _lease = t.submissions, t.leases


class ClaimLost(IllegalTransition):
    """An outcome for a claim this replica no longer holds (its lease ran out and
    another replica recovered it): nothing is written; the other replica reconciles."""

    def __init__(self, submission_id: int) -> None:
        super().__init__("submission", S.SUBMITTING, "claimed by another replica",
                         row_id=submission_id)


class LeaseLost(AdapterError):
    """This replica no longer holds the named lease: its work was not committed."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lease {name} is held by another replica")


def renew_claims(conn: Connection, ids: Sequence[int], *, owner: str, until: datetime) -> int:
    """Extend the leases of these claims of ``owner`` that are still ``submitting``."""
    renewed = 0
    for start in range(0, len(ids), 500):
        renewed += conn.execute(_sub.update().where(
            _sub.c.id.in_(list(ids[start:start + 500])), _sub.c.claimed_by == owner,
            _sub.c.state == S.SUBMITTING).values(lease_until=until)).rowcount
    return renewed


def expired_claims(conn: Connection, *, now: datetime, limit: int = 500) -> list[int]:
    """``submitting`` rows whose lease ran out (or that never had one: claimed before
    leases existed), locked so a late renewal waits for the recovery."""
    return list(conn.execute(
        sa.select(_sub.c.id).where(
            _sub.c.state == S.SUBMITTING,
            sa.or_(_sub.c.lease_until.is_(None), _sub.c.lease_until < now))
        .order_by(_sub.c.id).limit(limit)
        .with_for_update(skip_locked=True, of=_sub)).scalars().all())


def take(conn: Connection, name: str, *, holder: str, until: datetime,
         now: datetime) -> int | None:
    """Take or renew lease ``name`` for ``holder`` until ``until``: its epoch (the
    fencing token, new at every change of holder), or None while another holder's
    lease runs."""
    row = conn.execute(sa.select(_lease.c.holder, _lease.c.expires_at, _lease.c.epoch)
                       .where(_lease.c.name == name).with_for_update()).first()
    if row is None:
        # RETURNING, not rowcount: the driver's rowcount does not tell a skipped row
        inserted = conn.execute(_insert_ignore(conn).values(
            name=name, holder=holder, expires_at=until, epoch=1)
            .returning(_lease.c.name)).first()
        return 1 if inserted is not None else None
    if row.holder != holder and row.expires_at >= now:
        return None
    epoch = row.epoch if row.holder == holder else row.epoch + 1
    conn.execute(_lease.update().where(_lease.c.name == name).values(
        holder=holder, expires_at=until, epoch=epoch))
    return int(epoch)


def check(conn: Connection, name: str, *, holder: str, epoch: int, now: datetime) -> None:
    """Fence a unit of work: raise :class:`LeaseLost` unless ``holder`` still holds lease
    ``name`` in ``epoch``. The lease row stays locked until the caller's transaction
    ends, so no other replica takes the lease over while that work commits."""
    row = conn.execute(sa.select(_lease.c.holder, _lease.c.expires_at, _lease.c.epoch)
                       .where(_lease.c.name == name).with_for_update()).first()
    if row is None or row.holder != holder or row.epoch != epoch or row.expires_at < now:
        raise LeaseLost(name)


def drop(conn: Connection, name: str, *, holder: str, now: datetime) -> None:
    """Give lease ``name`` up, when ``holder`` has it: it runs out now, so another may
    take it at once (the row stays: the next holder's epoch follows this one's)."""
    conn.execute(_lease.update().where(_lease.c.name == name, _lease.c.holder == holder)
                 .values(expires_at=now - timedelta(microseconds=1)))


def holder_of(conn: Connection, name: str, *, now: datetime) -> str | None:
    """Who holds lease ``name`` now (None: nobody, or it ran out)."""
    row = conn.execute(sa.select(_lease.c.holder, _lease.c.expires_at)
                       .where(_lease.c.name == name)).first()
    return row.holder if row is not None and row.expires_at >= now else None


def _insert_ignore(conn: Connection) -> sa.Insert:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return insert(_lease).on_conflict_do_nothing(index_elements=["name"])
