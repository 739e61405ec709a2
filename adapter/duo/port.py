"""The port to DUO: every operation the pipeline calls, and the values they carry.

A leaf (the canonical model only): the submitter, the poller and the tests depend
on :class:`DuoPort`, never on zeep or HTTP. :class:`adapter.duo.client.DuoClient`
implements it against DUO's (or the simulator's) SOAP service;
:class:`adapter.testing.FakeDuo` implements it in memory for pure-logic tests.

Every method raises the :mod:`adapter.errors` tree for its outcome: ``DuoRejected``
(DUO said no: never resend; its ``StaleStamp`` when the stamp sent was not current), ``DuplicateDocument`` (the id was seen before:
reconcile), ``OutcomeUnknown`` (reconcile), ``TransientError`` (retry later),
``SystemFault`` (our set-up: pause).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from adapter.domain.model import Status, Terugmelding, Verzuimmelding

__all__ = ["ChangesPage", "DuoPort", "ExchangeRecord", "SubmitResult", "current_submission",
           "exchange_sink", "for_submission", "held_exchanges", "holding_exchanges"]

#: The submission a DUO call is made for (None: a call of its own, e.g. a feedback poll).
#: The client stamps it on every :class:`ExchangeRecord` it hands to its sink, so the
#: store keeps each exchange with its submission, and so with its report.
current_submission: ContextVar[int | None] = ContextVar("current_submission", default=None)


@contextmanager
def for_submission(submission_id: int | None) -> Iterator[None]:
    """Every DUO call inside the block belongs to ``submission_id`` (this thread/context)."""
    token = current_submission.set(submission_id)
    try:
        yield
    finally:
        current_submission.reset(token)


#: Exchanges held back in this context, to be stored in one transaction with the
#: outcome of their call (:func:`holding_exchanges`); None: store each at once.
_held: ContextVar[list[ExchangeRecord] | None] = ContextVar("held_exchanges", default=None)


@contextmanager
def holding_exchanges() -> Iterator[list[ExchangeRecord]]:
    """Inside the block, a sink made by :func:`exchange_sink` appends each exchange to
    the list yielded (also :func:`held_exchanges`) instead of storing it. The caller
    stores them with the outcome and clears the list; what is left when the block
    ends is the caller's to store (the submitter does so in its ``finally``)."""
    held: list[ExchangeRecord] = []
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def held_exchanges() -> list[ExchangeRecord]:
    """The exchanges held back in this context (empty outside :func:`holding_exchanges`)."""
    return _held.get() or []


def exchange_sink(store: Callable[[ExchangeRecord], None]) -> Callable[[ExchangeRecord], None]:
    """A sink for :class:`~adapter.duo.client.DuoClient`: holds the exchange back inside
    :func:`holding_exchanges`, else hands it to ``store`` at once."""
    def sink(exchange: ExchangeRecord) -> None:
        held = _held.get()
        if held is None:
            store(exchange)
        else:
            held.append(exchange)
    return sink


@dataclass(frozen=True)
class SubmitResult:
    """DUO's answer to a successful aanleveren/wijzigen/intrekken."""

    meldingsnummer: str
    status: Status
    laatste_mutatie: datetime


@dataclass(frozen=True)
class ChangesPage:
    """One page of ``opvragenGewijzigdeVerzuimmeldingen``; ask again from ``next_since``."""

    items: list[Terugmelding]
    next_since: datetime
    more: bool


@dataclass(frozen=True)
class ExchangeRecord:
    """One request/response pair with DUO, kept as evidence (contains personal data)."""

    operation: str
    document_id: str | None
    message_id: str | None
    request_xml: bytes
    response_xml: bytes | None
    http_status: int | None
    #: "ok" | "rejected" | "duplicate" | "fault:<code>" | "transient" | "unknown" | "system"
    outcome: str
    started_at: datetime
    duration_ms: int
    submission_id: int | None = None


@runtime_checkable
class DuoPort(Protocol):
    """DUO's Verzuim_V1 service as the pipeline uses it. Implementations are thread-safe."""

    def from_oin(self, sender_brin: str) -> str:
        """The OIN that speaks for ``sender_brin`` (``wsa:From``)."""
        ...

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> SubmitResult:
        """Submit a new report; ``document_id`` is the stable business-document id."""
        ...

    def wijzigen(self, melding: Verzuimmelding, *, meldingsnummer: str, document_id: str,
                 laatste_mutatie: datetime | None = None) -> SubmitResult:
        """Amend report ``meldingsnummer`` with the full new content of ``melding``;
        ``laatste_mutatie`` guards against a report changed in the meantime (VZ903:
        ``StaleStamp``)."""
        ...

    def intrekken(self, melding: Verzuimmelding, *, meldingsnummer: str,
                  document_id: str, laatste_mutatie: datetime | None = None) -> SubmitResult:
        """Withdraw report ``meldingsnummer`` (status I); ``laatste_mutatie`` as for
        :meth:`wijzigen` (``StaleStamp`` when the report changed meanwhile)."""
        ...

    def opvragen(self, *, brin: str, document_id: str | None = None,
                 meldingsnummer: str | None = None) -> Terugmelding | None:
        """One report by meldingsnummer or by the document id of any processed mutation
        of it (aanleveren, wijzigen, intrekken); None when DUO knows none for ``brin``.
        Exactly one of the two keys is given."""
        ...

    def opvragen_gewijzigd(self, *, brin: str, since: datetime | None) -> ChangesPage:
        """Reports of ``brin`` changed strictly after ``since`` (None: from the start)."""
        ...

    def aanleveren_bijlage(self, *, brin: str, meldingsnummer: str, bestandsnaam: str,
                           mime_type: str, inhoud: bytes, document_id: str) -> str | None:
        """Attach a file to a report; DUO's attachment id."""
        ...

    def close(self) -> None:
        """Release connections; the port is not used afterwards."""
        ...
