"""What the simulator holds: its own record types, not the adapter's canonical model.

DUO keeps its own register, and so does the simulator: a :class:`Report` is what
it read from a request (:mod:`adapter.simulator.request`), in DUO's terms, with
nothing of the client's domain model in it, so a bug shared with the client's
model cannot make both sides agree on something DUO would read differently.

:func:`report_json` renders a report for the control API in the shape the tests
and the demo read (the keys the canonical JSON format uses), written out here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import Any


class Soort(str, enum.Enum):
    """Verzuimsoort codes (``duo-verzuim.md`` §2.8); V1/V2 are legacy, never accepted new."""

    V3 = "V3"      # 16 uur in 4 weken, under 18
    V4 = "V4"      # idem, 18 and over
    LRV = "LRV"    # langdurig relatief verzuim
    RMC = "RMC"    # 18 to 23 without startkwalificatie
    L = "L"        # luxe verzuim
    O = "O"        # overig
    V1 = "V1"      # legacy: 3 schooldagen
    V2 = "V2"      # legacy: 1/8 in 4 weken


class Status(str, enum.Enum):
    """Status of a report (``StatusMeldingRelatiefVerzuim``, §2.8)."""

    R = "R"        # geregistreerd (DUO, on receipt)
    B = "B"        # in behandeling (gemeente)
    G = "G"        # afgesloten (gemeente)
    K = "K"        # ter kennisgeving aangenomen (gemeente)
    I = "I"        # ingetrokken (school)  # noqa: E741
    D = "D"        # overgedragen aan derden (legacy)

    @property
    def closed(self) -> bool:
        """No change or withdrawal after G, K, I (and legacy D): §2.10 [I]."""
        return self in (Status.G, Status.K, Status.I, Status.D)


@dataclass(frozen=True)
class Officer:
    """The municipality's contact for a report (§2.6; the fields are our guess [I])."""

    naam: str | None = None
    telefoonnummer: str | None = None
    emailadres: str | None = None
    organisatie: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"naam": self.naam, "telefoonnummer": self.telefoonnummer,
                "emailadres": self.emailadres, "organisatie": self.organisatie}

    def empty(self) -> bool:
        return not any(self.as_dict().values())


@dataclass(frozen=True)
class Pupil:
    """The student as a request names them: BSN or onderwijsnummer (§1.3)."""

    bsn: str | None = None
    onderwijsnummer: str | None = None
    geboortedatum: date | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the student in the register: ``("bsn"|"onderwijsnummer", nr)``."""
        if self.bsn:
            return ("bsn", self.bsn)
        return ("onderwijsnummer", self.onderwijsnummer or "")


@dataclass(frozen=True)
class Reporter:
    """The melder (§2.4)."""

    naam: str
    emailadres: str
    functie: str | None = None
    telefoonnummer: str | None = None


@dataclass(frozen=True)
class Day:
    """One verzuimdag: a whole day or lesuren 1..12 (§2.5)."""

    datum: date
    hele_dag: bool = False
    lesuren: tuple[int, ...] = ()


@dataclass(frozen=True)
class Report:
    """The ``Melding`` group of an aanlevering or wijziging, as DUO reads it."""

    brin: str
    pupil: Pupil
    soort: Soort
    begindatum: date
    vermoedelijke_reden: str
    melder: Reporter
    einddatum: date | None = None
    onderwijslocatiecode: str | None = None
    toelichting: str | None = None
    actie_ondernomen: bool | None = None
    toelichting_actie_ondernomen: str | None = None
    toelichting_actie_gewenst: str | None = None
    alle_lessen_gemist: bool | None = None
    dagen: tuple[Day, ...] = ()
    vervolg_op: str | None = None

    def overlaps(self, other: "Report") -> bool:
        """Do the two periods share a day? A missing einddatum is open-ended."""
        a_end, b_end = self.einddatum or date.max, other.einddatum or date.max
        return self.begindatum <= b_end and other.begindatum <= a_end


@dataclass
class Attachment:
    """A file attached to a report (only its name, type and size are kept)."""

    bijlage_id: str
    bestandsnaam: str | None
    mime_type: str | None
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"bijlage_id": self.bijlage_id, "bestandsnaam": self.bestandsnaam,
                "mime_type": self.mime_type, "size": self.size}


def report_json(report: Report) -> dict[str, Any]:
    """The control API's ``melding`` object (canonical-format keys; None left out)."""
    student = _drop({"bsn": report.pupil.bsn, "onderwijsnummer": report.pupil.onderwijsnummer,
                     "geboortedatum": _iso(report.pupil.geboortedatum)})
    melder = _drop({"naam": report.melder.naam, "emailadres": report.melder.emailadres,
                    "functie": report.melder.functie,
                    "telefoonnummer": report.melder.telefoonnummer})
    return _drop({
        "source_id": "", "brin": report.brin, "student": student,
        "verzuimsoort": report.soort.value, "begindatum": report.begindatum.isoformat(),
        "vermoedelijke_reden": report.vermoedelijke_reden, "melder": melder,
        "einddatum": _iso(report.einddatum), "onderwijslocatiecode": report.onderwijslocatiecode,
        "toelichting": report.toelichting, "actie_ondernomen": report.actie_ondernomen,
        "toelichting_actie_ondernomen": report.toelichting_actie_ondernomen,
        "toelichting_actie_gewenst": report.toelichting_actie_gewenst,
        "alle_lessen_gemist": report.alle_lessen_gemist,
        "verzuimdagen": [{"datum": d.datum.isoformat(), "hele_dag": d.hele_dag,
                          "lesuren": list(d.lesuren)} for d in report.dagen],
        "vervolg_op": report.vervolg_op, "bijlagen": [], "deleted": False,
    })


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _drop(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
