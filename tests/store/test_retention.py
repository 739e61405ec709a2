"""Retention (SQLite and PostgreSQL): only what the policy allows is purged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from adapter.store import Store
from adapter.store import schema as t

from .factories import T0, accept, report

CUTOFF = T0 + timedelta(days=10)      # everything changed before this is past the period


def _claim_one(store: Store, source_id: str) -> Any:
    claims = store.claim_due(limit=10, now=T0)
    [claim] = [c for c in claims if c.melding.source_id == source_id]
    for other in claims:
        if other is not claim:
            store.release(other.submission_id)
    return claim


def _backdate(store: Store, **values: Any) -> None:
    with store.database.engine.begin() as conn:
        conn.execute(t.reports.update().values(updated_at=T0, **values))


def _sources(store: Store) -> set[str]:
    return {r.source_id or "" for r in store.list_reports()}


def test_purge_takes_closed_reports_past_both_horizons_and_nothing_else(store: Store) -> None:
    accept(store, "m-1", report("closed", bsn="1"), report("open", bsn="2"),
           report("queued", bsn="3"), report("rejected", bsn="4"))
    for source, status in (("closed", "G"), ("open", "B")):
        claim = _claim_one(store, source)
        store.mark_registered(claim.submission_id, meldingsnummer=f"N-{source}", status=status,
                              laatste_mutatie=T0)
    claim = _claim_one(store, "rejected")
    store.mark_rejected(claim.submission_id, errors=[("VZ007", "te oud")])
    _backdate(store)
    # Inside DUO's horizon (DUO may still hold them): nothing goes.
    assert store.purge(cutoff=CUTOFF, horizon=T0 - timedelta(days=1))["reports"] == 0
    dry = store.purge(cutoff=CUTOFF, horizon=CUTOFF, dry_run=True)
    assert (dry["reports"], dry["submissions"]) == (2, 2)
    assert _sources(store) == {"closed", "open", "queued", "rejected"}   # a dry run deletes nothing
    done = store.purge(cutoff=CUTOFF, horizon=CUTOFF)
    assert done["reports"] == 2 and done["exchanges"] == 0
    assert _sources(store) == {"open", "queued"}     # open at DUO (B) and never sent stay
    assert store.purge(cutoff=CUTOFF, horizon=CUTOFF)["reports"] == 0


def test_a_report_duo_forgot_is_past_its_horizon_and_recent_ones_stay(store: Store) -> None:
    accept(store, "m-1", report("old", bsn="1"))
    claim = _claim_one(store, "old")
    store.mark_registered(claim.submission_id, meldingsnummer="N-1", status="R",
                          laatste_mutatie=T0)
    _backdate(store, duo_purged_at=T0)
    assert store.purge(cutoff=T0 - timedelta(days=1), horizon=T0)["reports"] == 0  # too recent
    assert store.purge(cutoff=CUTOFF, horizon=T0 - timedelta(days=365))["reports"] == 1


def test_registrations_go_only_with_their_students_last_report(store: Store) -> None:
    from datetime import date

    from adapter.domain.model import Registratie, Student
    from adapter.store import IncomingRegistratie
    regs = [IncomingRegistratie(vendor="acme", registratie=Registratie(
        source_id=f"w-{bsn}", brin="00AA", student=Student(bsn=bsn), datum=date(2025, 2, 3),
        lesuren=(1,))) for bsn in ("1", "2")]
    accept(store, "m-1", *regs, report("kept", bsn="2"))
    with store.database.engine.begin() as conn:
        conn.execute(t.registraties.update().values(updated_at=T0))
    counts = store.purge(cutoff=CUTOFF, horizon=CUTOFF)
    assert counts["registraties"] == 1                # student 1 has no report; student 2 does
    with store.database.engine.connect() as conn:
        left = conn.execute(sa.select(t.registraties.c.source_id)).scalars().all()
    assert left == ["w-2"]
