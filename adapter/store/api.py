"""The store's contract: what the daemon, the CLI and the tests may call.

The store is the system of record. Every method is one transaction: it either
commits completely or raises (``StoreUnavailable`` for disk/database faults).
Methods are safe to call from several threads at once.

Submission states (``submissions.state``)::

    pending ──claim──▶ submitting ──▶ done        (DUO registered it)
       ▲                   │  ├──────▶ rejected    (DUO or our rules said no; terminal)
       │                   │  ├──────▶ unknown     (outcome unknown: reconcile first)
       └──── retry_later ◀─┘  └──────▶ failed      (gave up after max attempts; terminal)
    unknown ──reconcile──▶ done | pending (not found at DUO: resend with the SAME id)
                          | unknown (look-up failed: again after a backoff)
                          | failed  (after duo.max_attempts)
    pending ──▶ cancelled   (the SIS deleted a report that was never sent; terminal)
    failed ──replay──▶ pending  (an operator's ``replay``: the SAME document id, attempts
                                 reset; should DUO have it after all, it answers
                                 "duplicate" and the submitter reconciles)

The allowed transitions are the tables in :mod:`adapter.store.states`.

Report states (``reports.state``): ``queued`` → ``registered`` | ``rejected`` |
``failed`` | ``withdrawn`` (cancelled before sending) | ``held``; ``registered`` → ``withdrawn``;
``rejected`` → ``queued`` (the SIS sent a corrected version) | ``held``; ``held`` →
``queued`` (released) | ``withdrawn`` (deleted by the SIS, never sent); ``failed`` →
``queued`` (an operator replayed its failed ``aanleveren``, :mod:`adapter.store.replay`).
``reports.duo_status`` holds DUO's status letter (R, B, G, K, I).

``held``: a V4 report of a student whose municipality does not want V4 reports
(regional agreement, ``[[municipalities]]``; :mod:`adapter.store.regions`). It
is stored with no submission (so it blocks none of the student's other reports),
one ``regionale_afspraak`` signal says why, and it is released (``queued``, a
fresh ``aanleveren``) when :meth:`Store.release_held` finds that the agreements
now let it go, or when a new version of it is no longer held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from adapter.domain.model import Operation, Registratie, Verzuimmelding

# The DUO side defines what an exchange is; the store keeps it as evidence.
from adapter.duo.port import ExchangeRecord as ExchangeRecord


def part_id(message_id: str, part: int) -> str:
    """The inbox key of chunk ``part`` of a message: the message id, then ``<id>#<n>``.

    A large export is stored in chunks, one :meth:`Store.accept` each under its
    part id; :meth:`Store.committed_parts` tells which a redelivery may skip.
    """
    return message_id if part == 0 else f"{message_id}#{part}"


#: One refusal: (field path, rule phrase, code). The code is a rule's own (``VZ…``
#: from :data:`adapter.domain.rules.RULES`, ``AD…`` from ``ADAPTER_RULES``); no value.
FieldViolation = tuple[str, str, str]

#: The content check :meth:`Store.accept` runs on each report's final content (the
#: record with the verzuimdagspecificatie merged from registrations) before it queues
#: a submission for it; an empty result lets the report through. Intake passes DUO's
#: rules plus DUO's schema (:mod:`adapter.duo.schema_check`).
ContentCheck = Callable[[Verzuimmelding], Sequence[FieldViolation]]


@dataclass(frozen=True)
class IncomingReport:
    """A valid report from one AMQP message, ready to be queued for DUO.

    ``position`` (``row 7``, ``$.meldingen[2]``) names it in a rejection should its
    final content fail the store's content check.
    """

    vendor: str
    melding: Verzuimmelding
    position: str | None = None


@dataclass(frozen=True)
class IncomingRegistratie:
    """An absence registration for one school day; fills reports' verzuimdagspecificatie."""

    vendor: str
    registratie: Registratie


@dataclass(frozen=True)
class IncomingRejection:
    """A row that failed parsing or rules: becomes a ``rejected`` outbox event, no SOAP call.

    ``violations`` are (field, rule, code) triples (:data:`FieldViolation`).
    """

    vendor: str
    brin: str
    source_id: str | None
    position: str
    violations: tuple[FieldViolation, ...]


@dataclass(frozen=True)
class AcceptResult:
    """Outcome of :meth:`Store.accept`: counts of what the message changed.

    ``updated_reports`` counts known reports whose new content changed or will
    cause a submission (replaced payload, ``wijzigen``, ``intrekken``, resend).
    """

    duplicate_message: bool
    new_reports: int
    unchanged_reports: int
    rejections: int
    updated_reports: int = 0
    registraties: int = 0


@dataclass(frozen=True)
class Claim:
    """A submission claimed for sending. ``document_id`` is reused on every attempt."""

    submission_id: int
    report_id: int
    vendor: str
    operation: Operation
    document_id: str
    attempt: int
    melding: Verzuimmelding
    meldingsnummer: str | None
    #: DUO's last mutation stamp of the report (sent with every ``wijzigen`` and
    #: ``intrekken``); None before registration.
    laatste_mutatie: datetime | None = None
    #: DUO's status letter of the report as last heard (R, B, G, K, I); None before
    #: registration. G, K and I close it: no ``wijzigen`` or ``intrekken`` is sent (AD030).
    duo_status: str | None = None


@dataclass(frozen=True)
class Registration:
    """DUO registered a claimed submission: what :meth:`Store.mark_registered_many` keeps
    of it, with the exchanges of the call (stored in the same transaction)."""

    submission_id: int
    meldingsnummer: str
    status: str
    laatste_mutatie: datetime
    exchanges: tuple[ExchangeRecord, ...] = ()


@dataclass(frozen=True)
class ReportSummary:
    """A row of ``meldingen list``: internal ids and codes, no personal data.

    ``origin`` is ``adapter`` (sent by us) or ``web`` (typed into DUO's web counter,
    learnt from DUO's feedback; ``source_id`` is None: the SIS never had it)."""

    report_id: int
    vendor: str
    brin: str
    source_id: str | None
    state: str
    duo_status: str | None
    meldingsnummer: str | None
    verzuimsoort: str
    created_at: datetime
    updated_at: datetime
    origin: str = "adapter"
    #: when DUO answered that it no longer knows the report (its schoning); None otherwise
    duo_purged_at: datetime | None = None
