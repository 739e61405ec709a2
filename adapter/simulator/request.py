"""The simulator's own reading of an XSD-valid request body (lxml, by element name).

Only called after the Body passed the XSD (:mod:`adapter.simulator.protocol`),
so required elements are there and simple values have their lexical form; what
the XSD cannot say (a date's meaning, a choice between two ids) is read here.
Values are stripped; an empty optional element counts as absent.

xs:dateTime without an offset is Dutch local time per DUO (§2.3, RIO PvE §7.1.1
[F]); the simulator reads it as Europe/Amsterdam.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from lxml import etree

from adapter.simulator.model import Day, Pupil, Report, Reporter, Soort
from adapter.simulator.wire import text_of, vz


@dataclass(frozen=True)
class Envelope:
    """The Bedrijfsdocument block every body starts with (§2.3)."""

    document_id: str
    sender: str
    receiver: str


@dataclass(frozen=True)
class Target:
    """What a wijzigen/intrekken/bijlage/opvragen names: a report of a school."""

    brin: str
    meldingsnummer: str | None
    stamp: datetime | None            # datumTijdLaatsteMutatie, when sent


def bedrijfsdocument(body: etree._Element) -> Envelope:
    return Envelope(document_id=text_of(body, "identificatiecodeBedrijfsdocument") or "",
                    sender=text_of(body, "verzendendeInstantie") or "",
                    receiver=text_of(body, "ontvangendeInstantie") or "")


def target(body: etree._Element) -> Target:
    """The report a body names: its meldingsnummer, BRIN and the stamp the school knows.

    ``wijzigen`` has no separate ``brin``: its Melding group's ``brin`` is the school's.
    The stamp is read wherever the operation's schema puts it (a direct child)."""
    stamp = text_of(body, "datumTijdLaatsteMutatie")
    return Target(brin=text_of(body, "brin") or "", meldingsnummer=text_of(body, "meldingsnummer"),
                  stamp=read_datetime(stamp) if stamp else None)


def read_report(body: etree._Element) -> Report:
    """The ``Melding`` group of an aanleveren/wijzigen body."""
    pupil_el = _required(body, "onderwijsdeelnemer")
    melder_el = _required(body, "melder")
    days = []
    for day in body.findall(vz("verzuimdag")):
        hours = tuple(int(el.text) for el in day.findall(vz("lesuur")) if el.text)
        days.append(Day(datum=_date(day, "datum") or date.min,
                        hele_dag=_bool(day, "heleDag") is True, lesuren=hours))
    return Report(
        brin=text_of(body, "brin") or "",
        pupil=Pupil(bsn=text_of(pupil_el, "burgerservicenummer"),
                    onderwijsnummer=text_of(pupil_el, "onderwijsnummer"),
                    geboortedatum=_date(pupil_el, "geboortedatum")),
        soort=Soort(text_of(body, "verzuimsoort")),
        begindatum=_date(body, "begindatum") or date.min,
        einddatum=_date(body, "einddatum"),
        vermoedelijke_reden=text_of(body, "vermoedelijkeReden") or "",
        melder=Reporter(naam=text_of(melder_el, "naam") or "",
                        emailadres=text_of(melder_el, "emailadres") or "",
                        functie=text_of(melder_el, "functie"),
                        telefoonnummer=text_of(melder_el, "telefoonnummer")),
        onderwijslocatiecode=text_of(body, "onderwijslocatiecode"),
        toelichting=text_of(body, "toelichting"),
        actie_ondernomen=_bool(body, "actieOndernomen"),
        toelichting_actie_ondernomen=text_of(body, "toelichtingOndernomenActie"),
        toelichting_actie_gewenst=text_of(body, "toelichtingActieGewenst"),
        alle_lessen_gemist=_bool(body, "alleLessenGemist"),
        dagen=tuple(days),
        vervolg_op=text_of(body, "vervolgOpMeldingsnummer"),
    )


def read_datetime(text: str) -> datetime:
    """xs:dateTime → aware UTC; no offset means Dutch local time (§2.3 [F])."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_amsterdam())
    return value.astimezone(timezone.utc)


def write_datetime(moment: datetime) -> str:
    """UTC with milliseconds and ``Z``, as DUO writes (§2.3)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _amsterdam() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo
        return ZoneInfo("Europe/Amsterdam")
    except Exception:    # no tz database: CET, wrong by an hour in summer only
        return timezone(timedelta(hours=1))


def _required(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(vz(name))
    if found is None:       # the XSD requires it: reaching this is a simulator bug
        raise ValueError(f"{name} missing after XSD validation")
    return found


def _date(parent: etree._Element, name: str) -> date | None:
    text = text_of(parent, name)
    return date.fromisoformat(text[:10]) if text else None    # xs:date may carry a zone


def _bool(parent: etree._Element, name: str) -> bool | None:
    text = text_of(parent, name)
    return None if text is None else text in ("true", "1")
