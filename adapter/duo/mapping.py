"""Canonical model <-> Verzuim_V1 XML.

Client side: :func:`melding_fields` turns a :class:`Verzuimmelding` into zeep
keyword arguments (``None`` fields are left out, so empty optional elements are
omitted, never sent empty); :func:`terugmelding_from` reads a zeep
``Verzuimmeldingstatus`` object. Simulator side: :func:`melding_from_element`
reads a request body element (lxml) back into the model.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any

from lxml import etree

from adapter.domain.model import (
    Behandelaar,
    Melder,
    Status,
    Student,
    Terugmelding,
    Verzuimdag,
    Verzuimmelding,
    Verzuimsoort,
)
from adapter.duo.contract import SCHEMA_NS


def utc_text(moment: datetime) -> str:
    """xs:dateTime in UTC with milliseconds and ``Z`` (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    """xs:dateTime → aware UTC datetime; no offset means Dutch local time per DUO,
    but both our client and simulator always send UTC, so a missing offset is read as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """Normalise a zeep-parsed datetime to aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def bedrijfsdocument(document_id: str | None, sender: str, receiver: str) -> dict[str, Any]:
    """The Bedrijfsdocument block; a fresh UUID when ``document_id`` is None."""
    return {
        "identificatiecodeBedrijfsdocument": document_id or str(uuid.uuid4()),
        "verzendendeInstantie": sender,
        "ontvangendeInstantie": receiver,
        "datumTijdBedrijfsdocument": utc_text(datetime.now(timezone.utc)),
    }


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != ""}


def melding_fields(m: Verzuimmelding) -> dict[str, Any]:
    """zeep kwargs for the ``Melding`` group of aanleveren/wijzigen."""
    student = _drop_none({
        "burgerservicenummer": m.student.bsn,
        "onderwijsnummer": None if m.student.bsn else m.student.onderwijsnummer,
        "geboortedatum": m.student.geboortedatum,
    })
    melder = _drop_none({
        "naam": m.melder.naam, "emailadres": m.melder.emailadres,
        "functie": m.melder.functie, "telefoonnummer": m.melder.telefoonnummer,
    })
    dagen = []
    for dag in m.verzuimdagen:
        if dag.hele_dag:
            dagen.append({"datum": dag.datum, "heleDag": True})
        else:
            dagen.append({"datum": dag.datum, "lesuur": list(dag.lesuren)})
    fields = _drop_none({
        "onderwijsdeelnemer": student,
        "brin": m.brin,
        "onderwijslocatiecode": m.onderwijslocatiecode,
        "verzuimsoort": m.verzuimsoort.value,
        "begindatum": m.begindatum,
        "einddatum": m.einddatum,
        "vermoedelijkeReden": m.vermoedelijke_reden,
        "toelichting": m.toelichting,
        "actieOndernomen": m.actie_ondernomen,
        "toelichtingOndernomenActie": m.toelichting_actie_ondernomen,
        "toelichtingActieGewenst": m.toelichting_actie_gewenst,
        "alleLessenGemist": m.alle_lessen_gemist,
        "melder": melder,
        "vervolgOpMeldingsnummer": m.vervolg_op,
    })
    if dagen:
        fields["verzuimdag"] = dagen
    return fields


def terugmelding_from(item: Any) -> Terugmelding:
    """A zeep ``Verzuimmeldingstatus`` object → :class:`Terugmelding`."""
    beh = getattr(item, "behandelaar", None)
    behandelaar = Behandelaar(
        naam=getattr(beh, "naam", None), telefoonnummer=getattr(beh, "telefoonnummer", None),
        emailadres=getattr(beh, "emailadres", None), organisatie=getattr(beh, "organisatie", None),
    ) if beh is not None else Behandelaar()
    return Terugmelding(
        meldingsnummer=str(item.meldingsnummer),
        status=Status(item.status),
        laatste_mutatie=as_utc(item.datumTijdLaatsteMutatie),
        identificatiecode_bedrijfsdocument=getattr(
            item, "identificatiecodeBedrijfsdocumentAanlevering", None),
        reden=getattr(item, "reden", None),
        toelichting=getattr(item, "toelichting", None),
        behandelaar=behandelaar,
        brin=_opt_str(getattr(item, "brin", None)),
        verzuimsoort=_opt_str(getattr(item, "verzuimsoort", None)),
        begindatum=_opt_date(getattr(item, "begindatum", None)),
        einddatum=_opt_date(getattr(item, "einddatum", None)),
    )


def _opt_str(value: Any) -> str | None:
    return str(value) if value is not None else None


def _opt_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# ---- simulator side: XML element -> model ----------------------------------------------

def _q(name: str) -> str:
    return f"{{{SCHEMA_NS}}}{name}"


def _text(parent: etree._Element, name: str) -> str | None:
    el = parent.find(_q(name))
    return el.text.strip() if el is not None and el.text is not None else None


def _date(parent: etree._Element, name: str) -> date | None:
    text = _text(parent, name)
    return date.fromisoformat(text[:10]) if text else None


def _bool(parent: etree._Element, name: str) -> bool | None:
    text = _text(parent, name)
    return None if text is None else text in ("true", "1")


def melding_from_element(body: etree._Element) -> Verzuimmelding:
    """Read the ``Melding`` group of an XSD-valid request element into the model."""
    student_el = body.find(_q("onderwijsdeelnemer"))
    melder_el = body.find(_q("melder"))
    assert student_el is not None and melder_el is not None  # guaranteed by the XSD
    dagen = []
    for dag in body.findall(_q("verzuimdag")):
        lesuren = tuple(int(el.text) for el in dag.findall(_q("lesuur")) if el.text)
        dagen.append(Verzuimdag(datum=_date(dag, "datum") or date.min,
                                hele_dag=bool(_bool(dag, "heleDag")), lesuren=lesuren))
    return Verzuimmelding(
        source_id="",
        brin=_text(body, "brin") or "",
        student=Student(bsn=_text(student_el, "burgerservicenummer"),
                        onderwijsnummer=_text(student_el, "onderwijsnummer"),
                        geboortedatum=_date(student_el, "geboortedatum")),
        verzuimsoort=Verzuimsoort(_text(body, "verzuimsoort")),
        begindatum=_date(body, "begindatum") or date.min,
        vermoedelijke_reden=_text(body, "vermoedelijkeReden") or "",
        melder=Melder(naam=_text(melder_el, "naam") or "",
                      emailadres=_text(melder_el, "emailadres") or "",
                      functie=_text(melder_el, "functie"),
                      telefoonnummer=_text(melder_el, "telefoonnummer")),
        einddatum=_date(body, "einddatum"),
        onderwijslocatiecode=_text(body, "onderwijslocatiecode"),
        toelichting=_text(body, "toelichting"),
        actie_ondernomen=_bool(body, "actieOndernomen"),
        toelichting_actie_ondernomen=_text(body, "toelichtingOndernomenActie"),
        toelichting_actie_gewenst=_text(body, "toelichtingActieGewenst"),
        alle_lessen_gemist=_bool(body, "alleLessenGemist"),
        verzuimdagen=tuple(dagen),
        vervolg_op=_text(body, "vervolgOpMeldingsnummer"),
    )
