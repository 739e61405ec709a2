"""Attachment sender: sends stored attachments with ``aanleverenBijlage``, each once.

Claims attachments whose report DUO registered (``Store.claim_bijlagen``) and
sends each with its stored business-document id, the same on every attempt:

- DUO's answer → ``sent`` (a ``registered`` event, ``operation`` ``aanleverenBijlage``)
- :class:`DuplicateDocument` → it arrived before (an earlier answer was lost): ``sent``
- :class:`DuoRejected` / :class:`RecordError` → ``rejected`` (event; content dropped)
- :class:`OutcomeUnknown` → ``unknown``: sent again with the same id, so DUO
  answers "duplicate" if the first one arrived; never a second attachment
- :class:`TransientError` → retried with backoff; ``failed`` after ``duo.max_attempts``
- :class:`SystemFault` → given back unsent (not counted); the loop waits

Exchanges are kept with the report's newest submission, so ``meldingen show
--xml`` lists the attachment's envelopes with the report's.

A claim is this replica's for ``store.claim_lease_seconds``: renewed before each send
of a batch, and every third of the lease this sender moves the attachments whose
lease ran out (a replica died while sending) to ``unknown``. At start-up, a SQLite
store's ``sending`` rows are all a dead daemon's; a shared store's only when expired.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from adapter.backoff import backoff_delay
from adapter.config import DuoSettings
from adapter.duo.port import DuoPort, for_submission
from adapter.errors import (
    DuoRejected,
    DuplicateDocument,
    OutcomeUnknown,
    RecordError,
    StoreUnavailable,
    SystemFault,
    TransientError,
)
from adapter.pipeline.alerts import FaultAlarm
from adapter.store import Store
from adapter.store.bijlagen import BijlageClaim

log = structlog.get_logger(__name__)
#: At least this long (seconds) between two looks that found nothing to send.
MIN_GAP = 0.5


class AttachmentSender:
    """Runs :meth:`send_due` until stopped; one attachment at a time."""

    def __init__(self, settings: DuoSettings, store: Store, client: DuoPort, *,
                 on_result: Callable[[], None] = lambda: None, idle_wait: float = 1.0,
                 pause_seconds: float = 30.0, alarm: FaultAlarm | None = None) -> None:
        self._alarm = alarm or FaultAlarm()   # system_fault_started/ended, shared by the daemon
        self._settings = settings
        self._store = store
        self._client = client
        self._on_result = on_result
        self._idle_wait = idle_wait
        self._pause_seconds = pause_seconds
        self._wake = threading.Event()
        self.held = False
        self._next_lease_work = time.monotonic() + self._store.lease_work_every

    def wake(self) -> None:
        self._wake.set()

    def set_client(self, client: DuoPort) -> None:
        self._client = client

    def run(self, stop: threading.Event) -> None:
        recovered = self._store.recover_bijlagen()
        if recovered:
            log.warning("bijlagen_interrupted_recovered", count=recovered)
        while not stop.is_set():
            try:
                if time.monotonic() >= self._next_lease_work:
                    self._next_lease_work = time.monotonic() + self._store.lease_work_every
                    self.recover_expired()
                busy = not self.held and self.send_due(stop)
            except StoreUnavailable as exc:
                # The store went away: wait and try again; raising would end this thread.
                log.warning("bijlagen_paused", error=str(exc))
                stop.wait(1.0)
                continue
            if not busy:
                # Every settled report wakes us; under load that is dozens a second.
                # Looking at most every MIN_GAP seconds keeps an idle look cheap.
                if stop.wait(min(MIN_GAP, self._idle_wait)):
                    break
                self._wake.wait(max(self._idle_wait - MIN_GAP, 0.0))
                self._wake.clear()

    def recover_expired(self) -> None:
        """Move attachments whose lease ran out (their replica died while sending) to
        ``unknown``, to be sent again with the same id. The loop does this every third
        of the lease."""
        recovered = self._store.recover_expired_bijlagen()
        if recovered:
            log.warning("bijlagen_lease_expired_recovered", count=recovered)

    def send_due(self, stop: threading.Event | None = None, *, limit: int = 10) -> int:
        """Send what is due now; returns how many were claimed."""
        claims = self._store.claim_bijlagen(limit=limit)
        renewed = time.monotonic()
        for n, claim in enumerate(claims):
            if (stop is not None and stop.is_set()) or self.held:
                for rest in claims[n:]:
                    self._store.release_bijlage(rest.bijlage)
                break
            if time.monotonic() - renewed >= self._store.lease_work_every:
                # the batch's sends took a third of the lease: the rest stay ours
                self._store.renew_bijlagen([rest.bijlage for rest in claims[n:]])
                renewed = time.monotonic()
            with structlog.contextvars.bound_contextvars(
                    bijlage=claim.bijlage, report_id=claim.report_id,
                    document_id=claim.document_id, attempt=claim.attempt):
                try:
                    self._send(claim)
                except SystemFault as exc:
                    log.warning("bijlage_paused", error=type(exc).__name__)
                    self._alarm.fault("store" if isinstance(exc, StoreUnavailable) else "duo",
                                      exc, part="attachments")
                    self._store.release_bijlage(claim.bijlage)
                    for rest in claims[n + 1:]:
                        self._store.release_bijlage(rest.bijlage)
                    if stop is not None:
                        stop.wait(self._pause_seconds)
                    break
                self._alarm.ok("duo")
            self._on_result()
        return len(claims)

    def _send(self, claim: BijlageClaim) -> None:
        try:
            with for_submission(claim.submission_id):
                bijlage_id = self._client.aanleveren_bijlage(
                    brin=claim.brin, meldingsnummer=claim.meldingsnummer,
                    bestandsnaam=claim.bestandsnaam, mime_type=claim.mime_type,
                    inhoud=claim.content, document_id=claim.document_id)
        except DuplicateDocument:
            # The same document id arrived before: this attachment is at DUO once.
            self._store.mark_bijlage_sent(claim.bijlage, meldingsnummer=claim.meldingsnummer,
                                          bijlage_id=None)
            log.info("bijlage_sent", duplicate=True)
            return
        except DuoRejected as exc:
            self._store.mark_bijlage_rejected(claim.bijlage, errors=exc.errors)
            log.error("bijlage_rejected", codes=[code for code, _ in exc.errors])
            return
        except RecordError as exc:
            field, rule = exc.field or "inhoud", exc.rule or "the request could not be built"
            self._store.mark_bijlage_rejected(claim.bijlage, violations=[(field, rule, "AD012")])
            log.error("bijlage_rejected", codes=["AD012"])
            return
        except OutcomeUnknown as exc:
            self._later(claim, type(exc).__name__, unknown=True)
            return
        except TransientError as exc:
            self._later(claim, str(exc), unknown=False)
            return
        self._store.mark_bijlage_sent(claim.bijlage, meldingsnummer=claim.meldingsnummer,
                                      bijlage_id=bijlage_id)
        log.info("bijlage_sent", duplicate=False)

    def _later(self, claim: BijlageClaim, error: str, *, unknown: bool) -> None:
        if claim.attempt >= self._settings.max_attempts:
            reason = f"gave up: {error}" + (" (outcome unknown)" if unknown else "")
            self._store.mark_bijlage_failed(claim.bijlage, reason=reason)
            log.error("bijlage_failed", attempts=claim.attempt, error=error)
            return
        delay = backoff_delay(claim.attempt - 1, base=self._settings.retry_base_seconds,
                              cap=self._settings.retry_max_seconds)
        self._store.retry_bijlage(claim.bijlage, at=datetime.now(UTC) + timedelta(seconds=delay),
                                  error=error, unknown=unknown)
        log.warning("bijlage_retry_scheduled", delay_s=round(delay, 1), unknown=unknown)
