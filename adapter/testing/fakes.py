"""An in-memory DUO for pure-logic tests: :class:`FakeDuo` implements :class:`DuoPort`.

dramatiq's StubBroker habit: the fake implements the whole port, keeps DUO's
state (reports, the ledger of business-document ids, the change log), and takes
scripted outcomes per operation, so the submitter, the poller and a plugin's
tests run against one honest stand-in instead of private fakes. The rules DUO
enforces over SOAP (schema, signatures, DUO's business rules) are the
simulator's job; this fake enforces the rules of a report's life: one effect
per document id (``VZ900``), a report known for its BRIN (``VZ901``), no change
after it closed (``VZ902``), the mutation stamp of ``wijzigen`` and ``intrekken``
(``VZ903``: :class:`~adapter.errors.StaleStamp`; no stamp is not checked), and
``opvragen`` by the document id of any mutation DUO acted on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from adapter.domain.model import Behandelaar, Status, Terugmelding, Verzuimmelding
from adapter.duo.contract import (
    DUPLICATE_DOCUMENT_CODE,
    DUPLICATE_DOCUMENT_TEXT,
    STALE_STAMP_CODE,
    STALE_STAMP_TEXT,
)
from adapter.duo.port import ChangesPage, SubmitResult
from adapter.errors import (
    AdapterError,
    DuoRejected,
    DuplicateDocument,
    OutcomeUnknown,
    StaleStamp,
)

__all__ = ["FakeDuo", "FakeReport", "Outcome"]

#: A scripted outcome: ``"ok"`` (DUO does it), ``"lost"`` (DUO does it, the answer is
#: lost: OutcomeUnknown), ``"seen"`` (an earlier send of this document arrived: DUO
#: did it then and now answers DuplicateDocument), or an error raised before anything
#: happens at DUO.
Outcome = Literal["ok", "lost", "seen"] | AdapterError
_CLOSED = (Status.G, Status.K, Status.I)


@dataclass
class FakeReport:
    """A report as the fake DUO holds it."""

    meldingsnummer: str
    brin: str
    document_id: str
    melding: Verzuimmelding
    status: Status
    laatste_mutatie: datetime
    toelichting: str | None = None
    behandelaar: Behandelaar = field(default_factory=Behandelaar)


class FakeDuo:
    """DUO in memory. Thread-safe; every call is recorded.

    - ``reject``: source id → ``(code, text)``: DUO rejects that report (``DuoRejected``).
    - :meth:`script`: outcomes for the next calls of one operation, in order.
    - ``sent``: ``(operation, source_id)`` of every mutating call made (whatever its
      outcome); ``documents``: their document ids; ``asked``: the keys of every
      ``opvragen``.
    - ``ledger``: document id → how many times DUO acted on it (never above 1);
      ``mutations``: document id → the meldingsnummer it acted on.
    - :meth:`set_status`: the municipality's handling, seen by ``opvragen`` and
      ``opvragen_gewijzigd``.
    """

    def __init__(self, *, reject: Mapping[str, tuple[str, str]] | None = None,
                 page_size: int = 100, first_number: int = 100001) -> None:
        self.reject = dict(reject or {})
        self.page_size = page_size
        self.sent: list[tuple[str, str]] = []
        self.documents: list[str] = []
        self.asked: list[str] = []
        self.ledger: dict[str, int] = {}
        self.mutations: dict[str, str] = {}
        self.reports: dict[str, FakeReport] = {}
        self.bijlagen: list[tuple[str, str, bytes]] = []   # (meldingsnummer, naam, inhoud)
        self.closed = False
        self._scripts: dict[str, list[Outcome]] = {}
        self._next = first_number
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    # ---- scripting ------------------------------------------------------------------

    def script(self, operation: str, *outcomes: Outcome) -> None:
        """Queue outcomes for the next calls of ``operation`` (e.g. ``"aanleveren"``)."""
        self._scripts.setdefault(operation, []).extend(outcomes)

    def set_status(self, meldingsnummer: str, status: Status, *,
                   toelichting: str | None = None,
                   behandelaar: Behandelaar | None = None) -> Terugmelding:
        """The municipality moved a report on; returns the feedback DUO now reports."""
        with self._lock:
            report = self.reports[meldingsnummer]
            report.status = status
            report.toelichting = toelichting
            report.behandelaar = behandelaar or report.behandelaar
            report.laatste_mutatie = self._tick()
            return self._feedback(report)

    # ---- the port -------------------------------------------------------------------

    def from_oin(self, sender_brin: str) -> str:
        return "00000099000000000001"

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> SubmitResult:
        with self._lock:
            outcome = self._begin("aanleveren", melding, document_id)
            self._rules(melding)
            report = FakeReport(str(self._next), melding.brin, document_id, melding, Status.R,
                                self._tick())
            self._next += 1
            self.reports[report.meldingsnummer] = report
            return self._done(document_id, report, outcome)

    def wijzigen(self, melding: Verzuimmelding, *, meldingsnummer: str, document_id: str,
                 laatste_mutatie: datetime | None = None) -> SubmitResult:
        with self._lock:
            outcome = self._begin("wijzigen", melding, document_id)
            report = self._open(meldingsnummer, melding.brin)
            self._stamp(report, laatste_mutatie)
            self._rules(melding)
            report.melding, report.laatste_mutatie = melding, self._tick()
            return self._done(document_id, report, outcome)

    def intrekken(self, melding: Verzuimmelding, *, meldingsnummer: str,
                  document_id: str, laatste_mutatie: datetime | None = None) -> SubmitResult:
        with self._lock:
            outcome = self._begin("intrekken", melding, document_id)
            report = self._open(meldingsnummer, melding.brin)
            self._stamp(report, laatste_mutatie)
            report.status, report.laatste_mutatie = Status.I, self._tick()
            return self._done(document_id, report, outcome)

    def opvragen(self, *, brin: str, document_id: str | None = None,
                 meldingsnummer: str | None = None) -> Terugmelding | None:
        if (document_id is None) == (meldingsnummer is None):
            raise ValueError("give exactly one of document_id and meldingsnummer")
        with self._lock:
            self.asked.append(document_id or meldingsnummer or "")
            self._scripted("opvragen")
            if document_id is not None:
                meldingsnummer = self.mutations.get(document_id)
            found = [r for r in self.reports.values()
                     if r.brin == brin and r.meldingsnummer == meldingsnummer]
            return self._feedback(found[0]) if found else None

    def opvragen_gewijzigd(self, *, brin: str, since: datetime | None) -> ChangesPage:
        with self._lock:
            self._scripted("opvragen_gewijzigd")
            changed = sorted((r for r in self.reports.values() if r.brin == brin and (
                since is None or r.laatste_mutatie > since)), key=lambda r: r.laatste_mutatie)
            page = changed[:self.page_size]
            next_since = (page[-1].laatste_mutatie if page
                          else since or datetime(1970, 1, 1, tzinfo=UTC))
            return ChangesPage(items=[self._feedback(r) for r in page], next_since=next_since,
                               more=len(changed) > len(page))

    def aanleveren_bijlage(self, *, brin: str, meldingsnummer: str, bestandsnaam: str,
                           mime_type: str, inhoud: bytes, document_id: str) -> str | None:
        with self._lock:
            outcome = self._scripted("aanleveren_bijlage")
            self._once(document_id)
            self._open(meldingsnummer, brin)
            self.bijlagen.append((meldingsnummer, bestandsnaam, inhoud))
            if outcome == "lost":
                raise OutcomeUnknown("answer lost (scripted)")
            return f"B{len(self.bijlagen)}"

    def close(self) -> None:
        self.closed = True

    # ---- DUO's behaviour ------------------------------------------------------------

    def _scripted(self, operation: str) -> Outcome:
        queue = self._scripts.get(operation)
        outcome: Outcome = queue.pop(0) if queue else "ok"
        if isinstance(outcome, AdapterError):
            raise outcome
        return outcome

    def _begin(self, operation: str, melding: Verzuimmelding, document_id: str) -> Outcome:
        """Record the call, then apply its script and the document-id rule."""
        self.sent.append((operation, melding.source_id))
        self.documents.append(document_id)
        outcome = self._scripted(operation)
        self._once(document_id)
        return outcome

    def _once(self, document_id: str) -> None:
        if document_id in self.ledger:
            raise DuplicateDocument(f"{DUPLICATE_DOCUMENT_CODE} {DUPLICATE_DOCUMENT_TEXT}")

    def _rules(self, melding: Verzuimmelding) -> None:
        if melding.source_id in self.reject:
            raise DuoRejected([self.reject[melding.source_id]])

    @staticmethod
    def _stamp(report: FakeReport, laatste_mutatie: datetime | None) -> None:
        if laatste_mutatie is not None and laatste_mutatie != report.laatste_mutatie:
            raise StaleStamp([(STALE_STAMP_CODE, STALE_STAMP_TEXT)])

    def _open(self, meldingsnummer: str, brin: str) -> FakeReport:
        report = self.reports.get(meldingsnummer)
        if report is None or report.brin != brin:
            raise DuoRejected([("VZ901", "melding niet gevonden voor deze instelling")])
        if report.status in _CLOSED:
            raise DuoRejected([("VZ902", "melding is afgesloten of ingetrokken")])
        return report

    def _done(self, document_id: str, report: FakeReport, outcome: Outcome) -> SubmitResult:
        self.ledger[document_id] = self.ledger.get(document_id, 0) + 1
        self.mutations[document_id] = report.meldingsnummer
        if outcome == "lost":
            raise OutcomeUnknown("answer lost (scripted)")
        if outcome == "seen":
            raise DuplicateDocument(f"{DUPLICATE_DOCUMENT_CODE} {DUPLICATE_DOCUMENT_TEXT}")
        return SubmitResult(report.meldingsnummer, report.status, report.laatste_mutatie)

    def _tick(self) -> datetime:
        # DUO's mutation stamps: strictly increasing, independent of the wall clock.
        self._clock += timedelta(seconds=1)
        return self._clock

    @staticmethod
    def _feedback(report: FakeReport) -> Terugmelding:
        return Terugmelding(report.meldingsnummer, report.status, report.laatste_mutatie,
                            identificatiecode_bedrijfsdocument=report.document_id,
                            toelichting=report.toelichting, behandelaar=report.behandelaar,
                            brin=report.brin, verzuimsoort=report.melding.verzuimsoort.value,
                            begindatum=report.melding.begindatum,
                            einddatum=report.melding.einddatum)
