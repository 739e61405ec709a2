"""What one claim's call leads to: the operation sent, DUO's answer settled in the store.

Each claim is sent with the business-document id stored for it, on every attempt.
Outcomes follow the error tree (``adapter.errors``):

- registered → handed to the submitter, which stores it write-behind
  (:mod:`adapter.pipeline.outcomes`; ``mark_registered``, outbox ``registered``)
- :class:`DuoRejected` → ``mark_rejected`` (outbox ``rejected``), never retried
- :class:`DuplicateDocument` / :class:`OutcomeUnknown` → reconcile by document id
  before anything is sent again
- :class:`TransientError` → ``retry_later`` with exponential backoff and jitter,
  ``mark_failed`` after ``duo.max_attempts``
- :class:`SystemFault` → raised to the submitter, which releases the claim (not
  counted) and pauses; nothing is rejected or dead-lettered

``wijzigen`` and ``intrekken`` carry the report's last mutation stamp. A report DUO
closed (status G, K or I) is refused before sending (``AD030``, no call to DUO).
When DUO answers that the report changed meanwhile (:class:`StaleStamp`, VZ903),
DUO's version is fetched by meldingsnummer and kept in the report's history, and
the operation is sent once more with DUO's fresh stamp (same document id); a
second refusal is a rejection with DUO's code.

Reconciliation looks the document up by its own business-document id, whatever
the operation (``aanleveren``, ``wijzigen``, ``intrekken``): found → registered;
not found → resent with the same id, counted as an attempt, and ``mark_failed``
once ``duo.max_attempts`` sends were made; a look-up that fails counts too and is
retried after a backoff (``failed``, outcome unknown, after ``duo.max_attempts``).

Every outcome is stored with the exchanges of its call, in one transaction
(:func:`settle`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from adapter.backoff import backoff_delay
from adapter.config import DuoSettings
from adapter.domain.model import Operation
from adapter.domain.rules import ADAPTER_RULES, code_for
from adapter.duo.port import DuoPort, SubmitResult, held_exchanges
from adapter.errors import (
    DuoRejected,
    DuplicateDocument,
    OutcomeUnknown,
    RecordError,
    RuleViolation,
    StaleStamp,
    TransientError,
)
from adapter.pipeline.faults import failpoint
from adapter.store import Claim, FieldViolation, Store

# The submitter's events, under its name as before the split: operators filter by it.
log = structlog.get_logger("adapter.pipeline.submitter")

#: DUO statuses that close a report: no wijzigen or intrekken is sent any more.
CLOSED_STATUSES = frozenset({"G", "K", "I"})
#: The adapter's own refusal of a change to a closed report (docs/canonical-format.md).
CLOSED_CODE = "AD030"


class OnRegistered(Protocol):
    """The submitter's hand-over of a registration, stored write-behind."""

    def __call__(self, claim: Claim, *, meldingsnummer: str, status: str,
                 laatste_mutatie: datetime, reconciled: bool = False) -> None: ...


def settle(outcome: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Store an outcome with the exchanges held back for this call (one transaction)."""
    held = held_exchanges()
    outcome(*args, exchanges=tuple(held), **kwargs)
    held.clear()


class ClaimHandling:
    """Sends a claim, reconciles it, or schedules it again; one call's outcome each time.
    Runs on the submitter's pool threads, one claim per thread at a time."""

    def __init__(self, settings: DuoSettings, store: Store, client: DuoPort,
                 registered: OnRegistered) -> None:
        """``registered``: takes a registration (found by a send or a look-up) to store."""
        self._settings = settings
        self._store = store
        #: the DUO client; the submitter swaps it on a reload (``Submitter.resume``)
        self.client = client
        self._registered = registered

    def _call(self, claim: Claim, stamp: datetime | None) -> SubmitResult:
        """The claim's operation, once; ``wijzigen``/``intrekken`` carry ``stamp``."""
        melding = claim.melding
        if claim.operation is Operation.AANLEVEREN:
            return self.client.aanleveren(melding, document_id=claim.document_id)
        if claim.operation is Operation.WIJZIGEN:
            return self.client.wijzigen(melding, meldingsnummer=claim.meldingsnummer or "",
                                        document_id=claim.document_id, laatste_mutatie=stamp)
        return self.client.intrekken(melding, meldingsnummer=claim.meldingsnummer or "",
                                     document_id=claim.document_id, laatste_mutatie=stamp)

    def _refuse_closed(self, claim: Claim) -> None:
        settle(self._store.mark_rejected, claim.submission_id, errors=[], violations=[
            ("meldingsnummer", ADAPTER_RULES[CLOSED_CODE], CLOSED_CODE)])
        log.error("report_rejected", codes=[CLOSED_CODE])

    def _fresh_stamp(self, claim: Claim, stale: StaleStamp) -> datetime | None:
        """After VZ903: DUO's version of the report, kept in its history; its stamp.

        None when the claim was settled here instead (DUO closed the report: AD030;
        DUO no longer knows it: rejected with DUO's code; the look-up failed: retried).
        """
        try:
            version = self.client.opvragen(brin=claim.melding.brin,
                                           meldingsnummer=claim.meldingsnummer or "")
        except (TransientError, OutcomeUnknown) as exc:
            self.retry(claim, f"stale stamp, look-up failed: {type(exc).__name__}")
            return None
        if version is None:
            settle(self._store.mark_rejected, claim.submission_id, errors=stale.errors)
            log.error("report_rejected", codes=[code for code, _ in stale.errors])
            return None
        self._store.record_duo_version(claim.submission_id, version)
        log.warning("duo_stale_stamp_refreshed", duo_status=version.status.value)
        if version.status.value in CLOSED_STATUSES:
            self._refuse_closed(claim)
            return None
        return version.laatste_mutatie

    def send(self, claim: Claim) -> None:
        """Send ``claim``'s operation and settle what DUO answered (the module's table)."""
        if claim.operation is not Operation.AANLEVEREN and claim.duo_status in CLOSED_STATUSES:
            self._refuse_closed(claim)        # nothing is sent: DUO would refuse it (VZ902)
            return
        try:
            try:
                result = self._call(claim, claim.laatste_mutatie)
            except StaleStamp as stale:
                if claim.operation is Operation.AANLEVEREN:
                    raise                              # no stamp was sent: a plain refusal
                fresh = self._fresh_stamp(claim, stale)
                if fresh is None:
                    return
                result = self._call(claim, fresh)     # once; a second VZ903 is a rejection
        except DuplicateDocument:
            log.warning("duo_duplicate_document")
            self.reconcile(claim)
            return
        except DuoRejected as exc:
            settle(self._store.mark_rejected, claim.submission_id, errors=exc.errors)
            log.error("report_rejected", codes=[code for code, _ in exc.errors])
            return
        except RecordError as exc:
            # Refused on our side before anything reached DUO: the adapter's own code,
            # field and rule; the exception's text may quote a value and is not kept.
            own = refusals(exc)
            settle(self._store.mark_rejected, claim.submission_id, errors=[], violations=own)
            log.error("report_rejected", codes=[code for _, _, code in own])
            return
        except OutcomeUnknown as exc:
            settle(self._store.mark_unknown, claim.submission_id, error=type(exc).__name__)
            log.warning("duo_outcome_unknown", error=str(exc))
            return
        except TransientError as exc:
            self.retry(claim, str(exc))
            return
        failpoint("after_soap_ok_before_commit")
        self._registered(claim, meldingsnummer=result.meldingsnummer, status=result.status.value,
                         laatste_mutatie=result.laatste_mutatie)

    def reconcile(self, claim: Claim) -> None:
        """Ask DUO whether this document id (of any operation) was processed; only
        resend when it was not, counting the resend against ``duo.max_attempts``."""
        try:
            found = self.client.opvragen(brin=claim.melding.brin, document_id=claim.document_id)
        except (TransientError, OutcomeUnknown) as exc:
            self._lookup_failed(claim, type(exc).__name__)
            return
        if found is None:
            if claim.attempt < self._settings.max_attempts:
                log.info("reconcile_not_found_resending")
            self.retry(claim, "not found at DUO")
            return
        self._registered(claim, meldingsnummer=found.meldingsnummer, status=found.status.value,
                         laatste_mutatie=found.laatste_mutatie, reconciled=True)

    def _lookup_failed(self, claim: Claim, error: str) -> None:
        """DUO could not be asked: count it, look again after a backoff, and give up
        (``failed``, saying the outcome is unknown) after ``duo.max_attempts``."""
        if claim.attempt >= self._settings.max_attempts:
            reason = f"gave up: outcome unknown, look-up failed ({error})"
            settle(self._store.mark_failed, claim.submission_id, reason=reason)
            log.error("report_failed", attempts=claim.attempt, error=reason)
            return
        delay = backoff_delay(claim.attempt - 1, base=self._settings.retry_base_seconds,
                              cap=self._settings.retry_max_seconds)
        settle(self._store.mark_unknown, claim.submission_id,
               error=f"look-up failed: {error}",
               at=datetime.now(UTC) + timedelta(seconds=delay), count_attempt=True)
        log.warning("reconcile_postponed", error=error, delay_s=round(delay, 1))

    def retry(self, claim: Claim, error: str) -> None:
        """Try ``claim`` again after a backoff; ``failed`` after ``duo.max_attempts``."""
        if claim.attempt >= self._settings.max_attempts:
            settle(self._store.mark_failed, claim.submission_id, reason=f"gave up: {error}")
            log.error("report_failed", attempts=claim.attempt, error=error)
            return
        delay = backoff_delay(claim.attempt - 1, base=self._settings.retry_base_seconds,
                              cap=self._settings.retry_max_seconds)
        settle(self._store.retry_later, claim.submission_id,
               at=datetime.now(UTC) + timedelta(seconds=delay), error=error)
        log.warning("submission_retry_scheduled", delay_s=round(delay, 1), error=error)


def refusals(exc: RecordError) -> list[FieldViolation]:
    """A record error raised on our side of the wire as (field, rule, code): a rule's own
    code when it names one of ours, else ``AD012`` (the request could not be built)."""
    pairs = (exc.violations if isinstance(exc, RuleViolation) and exc.violations
             else [(exc.field or "melding", exc.rule or ADAPTER_RULES["AD012"])])
    out: list[FieldViolation] = []
    for field, rule in pairs:
        code = code_for(rule)
        out.append((field, rule, "AD012" if code == "AD010" else code))
    return out
