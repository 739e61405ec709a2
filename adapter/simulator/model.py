"""What the simulator holds: its own record types, not the adapter's canonical model.

DUO keeps its own register, and so does the simulator: a :class:`Report` is what
it read from a request (:mod:`adapter.simulator.request`), in DUO's terms, with
nothing of the client's domain model in it, so a bug shared with the client's
model cannot make both sides agree on something DUO would read differently.

:func:`report_json` renders a report for the control API in the shape the tests
and the demo read (the keys the canonical JSON format uses), written out here;
:func:`report_from_json` reads that shape back (``POST /control/meldingen``: a
report typed into DUO's web counter).
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


def report_from_json(data: Any, brin: str) -> Report:
    """A report in the canonical JSON shape (``docs/canonical-format.md``) as typed into
    DUO's web counter for ``brin``. Raises ValueError (or KeyError, TypeError) when
    a required field is missing or of the wrong type; ``source_id``, ``bijlagen``,
    ``modified_at`` and ``deleted`` mean nothing at the counter and are ignored."""
    if not isinstance(data, dict):
        raise ValueError("melding must be an object")
    student, melder = data["student"], data["melder"]
    if not isinstance(student, dict) or not isinstance(melder, dict):
        raise ValueError("student and melder must be objects")
    pupil = Pupil(bsn=_opt(student, "bsn"), onderwijsnummer=_opt(student, "onderwijsnummer"),
                  geboortedatum=_opt_date(student, "geboortedatum"))
    if not (pupil.bsn or pupil.onderwijsnummer):
        raise ValueError("student needs bsn or onderwijsnummer")
    dagen = []
    for dag in data.get("verzuimdagen") or []:
        lesuren = dag.get("lesuren") or []
        if not isinstance(lesuren, list) or not all(isinstance(n, int) for n in lesuren):
            raise ValueError("lesuren must be a list of integers")
        dagen.append(Day(datum=date.fromisoformat(str(dag["datum"])),
                         hele_dag=bool(dag.get("hele_dag")), lesuren=tuple(lesuren)))
    return Report(
        brin=brin, pupil=pupil, soort=Soort(data["verzuimsoort"]),
        begindatum=date.fromisoformat(str(data["begindatum"])),
        vermoedelijke_reden=str(data["vermoedelijke_reden"]),
        melder=Reporter(naam=str(melder["naam"]), emailadres=str(melder["emailadres"]),
                        functie=_opt(melder, "functie"),
                        telefoonnummer=_opt(melder, "telefoonnummer")),
        einddatum=_opt_date(data, "einddatum"),
        onderwijslocatiecode=_opt(data, "onderwijslocatiecode"),
        toelichting=_opt(data, "toelichting"), actie_ondernomen=_opt_bool(data, "actie_ondernomen"),
        toelichting_actie_ondernomen=_opt(data, "toelichting_actie_ondernomen"),
        toelichting_actie_gewenst=_opt(data, "toelichting_actie_gewenst"),
        alle_lessen_gemist=_opt_bool(data, "alle_lessen_gemist"),
        dagen=tuple(dagen), vervolg_op=_opt(data, "vervolg_op"))


def _opt(values: dict[str, Any], key: str) -> str | None:
    value = values.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _opt_date(values: dict[str, Any], key: str) -> date | None:
    text = _opt(values, key)
    return date.fromisoformat(text) if text is not None else None


def _opt_bool(values: dict[str, Any], key: str) -> bool | None:
    value = values.get(key)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{key} must be a boolean")
    return value


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _drop(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
