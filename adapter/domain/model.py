"""The canonical model: what every vendor plugin maps its export onto.

Pure data, no I/O. Field names follow DUO's vocabulary (see
``docs/canonical-format.md``). Instances are frozen; build new ones with
``dataclasses.replace``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


class Verzuimsoort(str, enum.Enum):
    """DUO's kinds of absence report. ``V1``/``V2`` are legacy: read, never sent."""

    V3 = "V3"    # 16 uur in 4 weken, student under 18
    V4 = "V4"    # idem, 18 and over (optional, regional agreement)
    LRV = "LRV"  # langdurig relatief verzuim, under 18
    RMC = "RMC"  # 18 to 23 without startkwalificatie
    L = "L"      # luxe verzuim
    O = "O"      # overig
    V1 = "V1"    # legacy: 3 schooldagen
    V2 = "V2"    # legacy: 1/8 in 4 weken

    @property
    def legacy(self) -> bool:
        return self in (Verzuimsoort.V1, Verzuimsoort.V2)


class Status(str, enum.Enum):
    """Status of a report at DUO. ``D`` is legacy: read, never sent."""

    R = "R"  # geregistreerd
    B = "B"  # in behandeling
    G = "G"  # afgesloten
    K = "K"  # ter kennisgeving aangenomen
    I = "I"  # ingetrokken  # noqa: E741
    D = "D"  # overgedragen aan derden (legacy)


class Operation(str, enum.Enum):
    """What a submission asks DUO to do."""

    AANLEVEREN = "aanleveren"
    WIJZIGEN = "wijzigen"
    INTREKKEN = "intrekken"


@dataclass(frozen=True)
class Student:
    """The student: BSN or onderwijsnummer (exactly one), birth date when the SIS knows it.

    ``leerlingnummer`` is the SIS's own student number (Eduarte's deelnemernummer,
    Magister's stamnummer): never sent to DUO, echoed in events to the SIS.
    ``gemeentecode`` is the CBS code (4 digits) of the municipality the student
    lives in: never sent to DUO; it selects the regional agreements that apply
    (``[[municipalities]]``, :mod:`adapter.domain.regions`).
    """

    bsn: str | None = None
    onderwijsnummer: str | None = None
    leerlingnummer: str | None = None
    geboortedatum: date | None = None
    achternaam: str | None = None
    voorvoegsel: str | None = None
    voornamen: str | None = None
    gemeentecode: str | None = None


@dataclass(frozen=True)
class Melder:
    """The school's contact person for this report."""

    naam: str
    emailadres: str
    functie: str | None = None
    telefoonnummer: str | None = None


@dataclass(frozen=True)
class Verzuimdag:
    """One day of the verzuimdagspecificatie: a whole day, or lesson hours 1–12."""

    datum: date
    hele_dag: bool = False
    lesuren: tuple[int, ...] = ()


@dataclass(frozen=True)
class Bijlage:
    """An attachment reference on a report (the content stays in the SIS until sent)."""

    bestandsnaam: str
    mime_type: str
    referentie: str


@dataclass(frozen=True)
class Verzuimmelding:
    """A report the school decided to send, as the SIS knows it.

    ``source_id`` is the SIS's own stable id for the report; together with the
    vendor and BRIN it is the report's business key. ``modified_at`` orders
    versions of the same report; ``deleted`` asks for withdrawal.
    """

    source_id: str
    brin: str
    student: Student
    verzuimsoort: Verzuimsoort
    begindatum: date
    vermoedelijke_reden: str
    melder: Melder
    einddatum: date | None = None
    onderwijslocatiecode: str | None = None
    toelichting: str | None = None
    actie_ondernomen: bool | None = None
    toelichting_actie_ondernomen: str | None = None
    toelichting_actie_gewenst: str | None = None
    alle_lessen_gemist: bool | None = None
    verzuimdagen: tuple[Verzuimdag, ...] = ()
    vervolg_op: str | None = None
    bijlagen: tuple[Bijlage, ...] = ()
    modified_at: datetime | None = None
    deleted: bool = False


@dataclass(frozen=True)
class Registratie:
    """One absence registration of the SIS, mapped by the plugin onto ONE school day.

    Registrations fill the verzuimdagspecificatie of the report for the same
    student (``brin`` + BSN/onderwijsnummer) whose period covers ``datum``; the
    core merges them (overlaps counted once) and amends a registered report when
    a registration arrives later. A registration spanning several days is split
    by the plugin into one per school day (weekends, holidays and cancelled
    lessons left out), each with its own stable ``source_id`` (e.g.
    ``AM-0087731@2025-10-06``). ``geoorloofd=True`` (authorised) is never
    reported. ``lessons_in_day`` is the number of lessons scheduled that day per
    the school's lesson schedule: when the merged lesuren cover all of them the
    day is reported as a whole day.
    """

    source_id: str
    brin: str
    student: Student
    datum: date
    lesuren: tuple[int, ...] = ()
    hele_dag: bool = False
    lessons_in_day: int | None = None
    minuten: int | None = None
    geoorloofd: bool | None = None
    luxe: bool = False
    modified_at: datetime | None = None
    deleted: bool = False


@dataclass(frozen=True)
class Behandelaar:
    """The municipality's officer handling the report (personal data)."""

    naam: str | None = None
    telefoonnummer: str | None = None
    emailadres: str | None = None
    organisatie: str | None = None


@dataclass(frozen=True)
class Terugmelding:
    """DUO's feedback on one report: status, officer, explanation, mutation stamp.

    DUO's ``Verzuimmeldingstatus`` also names the report's BRIN, verzuimsoort and
    period (``brin``, ``verzuimsoort``, ``begindatum``, ``einddatum``), never the
    student: that is all the adapter learns of a report typed into DUO's web counter.
    """

    meldingsnummer: str
    status: Status
    laatste_mutatie: datetime
    identificatiecode_bedrijfsdocument: str | None = None
    reden: str | None = None
    toelichting: str | None = None
    behandelaar: Behandelaar = field(default_factory=Behandelaar)
    brin: str | None = None
    verzuimsoort: str | None = None
    begindatum: date | None = None
    einddatum: date | None = None


@dataclass(frozen=True)
class RowRejection:
    """A row of an export that could not become a report.

    ``position`` names the row (``row 7``) or JSON path (``$.meldingen[2]``);
    ``violations`` lists ``(field, rule)`` pairs; no value is ever carried.
    """

    position: str
    violations: tuple[tuple[str, str], ...]
    source_id: str | None = None
    brin: str | None = None


EVENT_KINDS = ("registered", "rejected", "terugmelding", "failed", "signaal")


@dataclass(frozen=True)
class OutboundEvent:
    """Something the adapter tells the SIS, before the vendor plugin renders it.

    ``message_id`` is stable per event (the SIS deduplicates on it). ``data`` is
    JSON-able and shaped per ``event``:

    - ``registered``: ``{"meldingsnummer", "status", "business_document_id", "operation"}``
    - ``rejected``: ``{"errors": [{"code", "field", "rule", "text"}], "position", "operation"}``
    - ``terugmelding``: ``{"meldingsnummer", "status", "reden", "toelichting",
      "behandelaar": {"naam", "telefoonnummer", "emailadres", "organisatie"},
      "laatste_mutatie"}``; for a report typed into DUO's web counter (never sent
      by the adapter) ``source_id`` is None and the data adds ``"origin": "web"``,
      ``verzuimsoort``, ``begindatum``, ``einddatum``
    - ``failed``: ``{"reason", "attempts", "operation"}``
    """

    message_id: str
    vendor: str
    brin: str
    event: str
    source_id: str | None
    data: dict[str, object]
    created_at: datetime | None = None


@dataclass(frozen=True)
class MappedRecord:
    """A report a plugin mapped from an export, with the position it came from."""

    position: str
    melding: Verzuimmelding


@dataclass(frozen=True)
class MappedRegistratie:
    """A registration a plugin mapped from an export, with the position it came from."""

    position: str
    registratie: Registratie
