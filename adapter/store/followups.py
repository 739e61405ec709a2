"""Follow-up reports: the SIS's ``vervolg_op`` resolved to DUO's meldingsnummer.

A follow-up (vervolgmelding) names the report it continues by the SIS's own id
(``vervolg_op`` = the earlier report's ``source_id``, every vendor). DUO wants
its own number of that report in ``vervolgOpMeldingsnummer``, a number only DUO
issues. The store resolves it when the follow-up is claimed for sending, inside
the claim's transaction, so the number is the one DUO gave, never a guess:

=========================================  ===========================================
the earlier report (same vendor and BRIN)   the follow-up
=========================================  ===========================================
registered at DUO (has a meldingsnummer)    sent with that meldingsnummer
queued (not yet registered)                 waits: re-queued behind the earlier report
not in the store                            ``rejected`` AD020, nothing sent
of another student                          ``rejected`` AD021, nothing sent
rejected, failed or withdrawn               ``rejected`` AD022, nothing sent
begins fewer than 7 days before it          ``rejected`` AD023, nothing sent
=========================================  ===========================================

DUO takes at most one report per 7 calendar days for continuous absence
(``reference/duo-verzuim.md`` §2.9): a follow-up's ``begindatum`` must lie at
least :data:`CADENCE_DAYS` after the earlier report's ``begindatum`` (not its
einddatum: a follow-up normally begins the day after the earlier one ends).
A withdrawal is never refused for it.

An amendment or withdrawal of a follow-up that DUO registered keeps the number
its earlier report had, whatever that report's state since.

Waiting re-queues: submissions of one student are sent oldest first, so a
follow-up claimed before its earlier report is older than that report's own
submission and would block it forever. It is cancelled (it never left) and
queued again, with a fresh business-document id, behind the earlier report's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from adapter.domain.model import Verzuimmelding
from adapter.domain.rules import ADAPTER_RULES
from adapter.store import schema as t
from adapter.store import states as S
from adapter.store.accept import add_submission
from adapter.store.common import history


#: DUO's cadence for continuous absence: a follow-up begins at least this many
#: calendar days after the begindatum of the report it continues (AD023).
CADENCE_DAYS = 7


def too_soon(follow_up_begin: date, earlier_begin: date) -> bool:
    """Whether a follow-up beginning on ``follow_up_begin`` breaks the cadence (AD023)."""
    return (follow_up_begin - earlier_begin).days < CADENCE_DAYS


@dataclass(frozen=True)
class Resolved:
    """Send ``melding``: its ``vervolg_op`` now holds DUO's meldingsnummer (or was empty)."""

    melding: Verzuimmelding


@dataclass(frozen=True)
class Refused:
    """Never send: reject with the adapter's ``code`` (``ADAPTER_RULES``) on ``field``."""

    code: str
    field: str = "vervolg_op"

    @property
    def rule(self) -> str:
        return ADAPTER_RULES[self.code]


@dataclass(frozen=True)
class Wait:
    """The earlier report is not registered yet: send this one after it."""


Resolution = Resolved | Refused | Wait


def resolve(conn: Connection, claimed: Row[Any], melding: Verzuimmelding) -> Resolution:
    """Resolve ``melding.vervolg_op`` for the claimed submission row ``claimed``.

    ``claimed`` is a row of the store's claim query (submission columns plus the
    report's ``vendor``, ``brin``). Returns the melding unchanged when it is no
    follow-up. Reads only; the caller acts on the answer.
    """
    if not melding.vervolg_op:
        return Resolved(melding)
    r = t.reports.c
    earlier = conn.execute(sa.select(
        r.id, r.student_key, r.state, r.meldingsnummer, r.payload).where(
        r.vendor == claimed.vendor, r.brin == claimed.brin,
        r.source_id == melding.vervolg_op)).first()
    if earlier is None or earlier.id == claimed.report_id:
        return Refused("AD020")
    if earlier.student_key != claimed.student_key:
        return Refused("AD021")
    if claimed.operation != "intrekken" and too_soon(
            melding.begindatum, date.fromisoformat(earlier.payload["begindatum"])):
        return Refused("AD023", field="begindatum")
    amending = claimed.operation != "aanleveren"
    if earlier.meldingsnummer and (earlier.state == S.REGISTERED or amending):
        return Resolved(replace(melding, vervolg_op=earlier.meldingsnummer))
    if earlier.state == S.QUEUED and _in_flight(conn, earlier.id):
        return Wait()
    return Refused("AD022")


def _in_flight(conn: Connection, report_id: int) -> bool:
    """Whether the report has a submission still on its way to DUO."""
    sub = t.submissions.c
    return conn.execute(sa.select(sa.exists().where(
        sub.report_id == report_id, sub.state.in_(S.ACTIVE)))).scalar_one()


def requeue_behind(conn: Connection, claimed: Row[Any], now: datetime) -> int:
    """Cancel the claimed, never-sent submission and queue its content anew.

    The new submission (fresh document id: nothing was ever sent with the old
    one) is younger than the earlier report's, so per-student ordering sends
    the earlier report first. Returns the new submission's id.
    """
    sub = t.submissions
    S.check_submission(S.SUBMITTING, S.PENDING, row_id=claimed.id)
    S.check_submission(S.PENDING, S.CANCELLED, row_id=claimed.id)
    conn.execute(sub.update().where(sub.c.id == claimed.id).values(
        state=S.CANCELLED, attempts=max(claimed.attempts, 0), updated_at=now,
        last_error="follow-up re-queued behind the report it continues"))
    history(conn, claimed.report_id, "follow_up_waiting", at=now, from_state=S.SUBMITTING,
            to_state=S.CANCELLED, submission_id=claimed.id,
            detail="the earlier report is not registered yet")
    return add_submission(conn, claimed.report_id, claimed.student_key, claimed.operation,
                          claimed.payload, claimed.content_hash, now)
