"""DUO's functional layer: what happens to an XSD-valid request.

Functional outcomes are ``leveringGoedgekeurd=false`` + foutmeldingen (never
faults). Codes: the domain rules' ``VZ0xx`` (:mod:`adapter.domain.rules`,
applied with the student's birth date from the request or else from ROD) and
the simulator's own:

- ``VZ900`` identificatiecodeBedrijfsdocument already used (nothing registered again);
- ``VZ901`` report unknown for this BRIN; ``VZ902`` report closed (G/K/I) or
  withdrawn: no change; ``VZ903`` mutation stamp does not match (changed meanwhile).

A document id counts as *used* only once it was registered, so a resend after a
functional rejection gets the same rejection, not VZ900.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import date, datetime, timezone
from typing import Callable

from lxml import etree

from adapter.domain.model import Status, Verzuimmelding
from adapter.domain.rules import check_melding
from adapter.duo import contract as c
from adapter.duo.mapping import melding_from_element, parse_datetime, utc_text
from adapter.simulator.state import SimMelding, SimState

_CLOSED = (Status.G, Status.K, Status.I, Status.D)
Fout = tuple[str, str, str | None]        # (code, text, field)
#: What an operation handler returns: DUO's errors, and what fills a good answer.
Outcome = tuple[list[Fout], Callable[[etree._Element], None] | None]


def _q(name: str) -> str:
    return f"{{{c.SCHEMA_NS}}}{name}"


def _text(el: etree._Element, name: str) -> str | None:
    found = el.find(_q(name))
    return found.text.strip() if found is not None and found.text else None


def _add(parent: etree._Element, name: str, value: object | None) -> etree._Element | None:
    if value is None or value == "":
        return None                                   # empty optional elements are omitted
    el = etree.SubElement(parent, _q(name))
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, datetime):
        el.text = utc_text(value)
    elif isinstance(value, date):
        el.text = value.isoformat()
    else:
        el.text = str(value)
    return el


class Operations:
    """Handles the six operations against a :class:`SimState`."""

    def __init__(self, state: SimState, *, page_size: int = 100,
                 today: Callable[[], date] = date.today) -> None:
        self.state = state
        self.page_size = page_size
        self.today = today

    def handle(self, operation: str, body: etree._Element) -> etree._Element:
        resp = etree.Element(_q(f"{operation}_Response"), nsmap={"vz": c.SCHEMA_NS})
        _add(resp, "identificatiecodeBedrijfsdocument",
             _text(body, "identificatiecodeBedrijfsdocument"))
        _add(resp, "verzendendeInstantie", _text(body, "ontvangendeInstantie"))
        _add(resp, "ontvangendeInstantie", _text(body, "verzendendeInstantie"))
        _add(resp, "datumTijdBedrijfsdocument", datetime.now(timezone.utc))
        handler = getattr(self, f"_{operation}")
        with self.state.lock:
            fouten, fill = handler(body)
        _add(resp, "leveringGoedgekeurd", not fouten)
        for code, text, field in fouten:
            f = etree.SubElement(resp, _q("foutmelding"))
            _add(f, "foutcode", code)
            _add(f, "fouttekst", text[:200])
            if field:
                s = etree.SubElement(f, _q("sleutelgegeven"))
                _add(s, "sleutelnaam", "veld")
                _add(s, "sleutelwaarde", field[:25])
        if fill is not None:
            fill(resp)
        return resp

    # ---- helpers --------------------------------------------------------------------

    def _rules(self, body: etree._Element) -> tuple[Verzuimmelding, list[Fout]]:
        m = melding_from_element(body)
        if m.student.geboortedatum is None:
            birth = self.state.birth_date(m.student.bsn, m.student.onderwijsnummer)
            if birth is not None:
                m = dataclasses.replace(m, student=dataclasses.replace(m.student,
                                                                       geboortedatum=birth))
        fouten: list[Fout] = [(v.code, f"{v.field}: {v.rule}", v.field)
                              for v in check_melding(m, today=self.today())]
        return m, fouten

    def _used(self, body: etree._Element) -> list[Fout]:
        doc_id = _text(body, "identificatiecodeBedrijfsdocument") or ""
        if doc_id in self.state.ledger:
            return [(c.DUPLICATE_DOCUMENT_CODE, c.DUPLICATE_DOCUMENT_TEXT,
                     "bedrijfsdocument")]
        return []

    def _find(self, body: etree._Element) -> tuple[SimMelding | None, list[Fout]]:
        sim = self.state.meldingen.get(_text(body, "meldingsnummer") or "")
        if sim is None or sim.brin != _text(body, "brin"):
            return None, [("VZ901", "melding niet gevonden voor deze instelling",
                           "meldingsnummer")]
        if sim.status in _CLOSED:
            return None, [("VZ902", "melding is afgesloten of ingetrokken", "status")]
        return sim, []

    def _register(self, body: etree._Element) -> None:
        doc_id = _text(body, "identificatiecodeBedrijfsdocument") or ""
        self.state.ledger[doc_id] = self.state.ledger.get(doc_id, 0) + 1

    @staticmethod
    def _registratie(sim: SimMelding) -> Callable[[etree._Element], None]:
        def fill(resp: etree._Element) -> None:
            _add(resp, "meldingsnummer", sim.meldingsnummer)
            _add(resp, "status", sim.status.value)
            _add(resp, "datumTijdLaatsteMutatie", sim.laatste_mutatie)
        return fill

    # ---- operations -----------------------------------------------------------------

    def _aanleverenVerzuimmelding(self, body: etree._Element) -> Outcome:  # noqa: N802
        if fouten := self._used(body):
            return fouten, None
        melding, fouten = self._rules(body)
        if fouten:
            return fouten, None
        doc_id = _text(body, "identificatiecodeBedrijfsdocument") or ""
        sim = SimMelding(meldingsnummer=self.state.next_meldingsnummer(), document_id=doc_id,
                         brin=melding.brin, melding=melding, status=Status.R,
                         laatste_mutatie=self.state.next_stamp(), status_since=time.monotonic())
        self.state.meldingen[sim.meldingsnummer] = sim
        self.state.by_document[doc_id] = sim.meldingsnummer
        self._register(body)
        return [], self._registratie(sim)

    def _wijzigenVerzuimmelding(self, body: etree._Element) -> Outcome:  # noqa: N802
        if fouten := self._used(body):
            return fouten, None
        sim, fouten = self._find(body)
        if sim is None:
            return fouten, None
        stamp = _text(body, "datumTijdLaatsteMutatie")
        if stamp is not None and parse_datetime(stamp) != sim.laatste_mutatie:
            return [("VZ903", "melding is intussen gewijzigd", "datumTijdLaatsteMutatie")], None
        melding, fouten = self._rules(body)
        if fouten:
            return fouten, None
        sim.melding = melding
        sim.laatste_mutatie = self.state.next_stamp()
        self._register(body)
        return [], self._registratie(sim)

    def _intrekkenVerzuimmelding(self, body: etree._Element) -> Outcome:  # noqa: N802
        if fouten := self._used(body):
            return fouten, None
        sim, fouten = self._find(body)
        if sim is None:
            return fouten, None
        self.state.set_status(sim, Status.I, monotonic_now=time.monotonic())
        self._register(body)
        return [], self._registratie(sim)

    def _opvragenVerzuimmelding(self, body: etree._Element) -> Outcome:  # noqa: N802
        nummer = _text(body, "meldingsnummer")
        if nummer is None:
            nummer = self.state.by_document.get(
                _text(body, "identificatiecodeBedrijfsdocumentAanlevering") or "")
        sim = self.state.meldingen.get(nummer or "")
        if sim is None or sim.brin != _text(body, "brin"):
            return [], None                            # unknown: no verzuimmelding element
        return [], lambda resp: status_element(resp, sim)

    def _opvragenGewijzigdeVerzuimmeldingen(self, body: etree._Element) -> Outcome:  # noqa: N802
        since_text = _text(body, "selectiemoment")
        since = parse_datetime(since_text) if since_text else None
        page, nxt, more = self.state.changes(_text(body, "brin") or "", since, self.page_size)

        def fill(resp: etree._Element) -> None:
            for sim in page:
                status_element(resp, sim)
            _add(resp, "volgendSelectiemoment", nxt)
            _add(resp, "meerGegevens", more)
        return [], fill

    def _aanleverenBijlage(self, body: etree._Element) -> Outcome:  # noqa: N802
        if fouten := self._used(body):
            return fouten, None
        sim = self.state.meldingen.get(_text(body, "meldingsnummer") or "")
        if sim is None or sim.brin != _text(body, "brin"):
            return [("VZ901", "melding niet gevonden voor deze instelling",
                     "meldingsnummer")], None
        bijlage_id = f"B{len(sim.bijlagen) + 1}-{sim.meldingsnummer}"
        sim.bijlagen.append({"bijlage_id": bijlage_id, "bestandsnaam": _text(body, "bestandsnaam"),
                             "mime_type": _text(body, "mimeType"),
                             "size": len(_text(body, "inhoud") or "") * 3 // 4})
        self._register(body)

        def fill(resp: etree._Element) -> None:
            _add(resp, "bijlageId", bijlage_id)
        return [], fill


def status_element(parent: etree._Element, sim: SimMelding) -> None:
    """Append a ``verzuimmelding`` (Verzuimmeldingstatus) for ``sim`` to ``parent``."""
    el = etree.SubElement(parent, _q("verzuimmelding"))
    _add(el, "meldingsnummer", sim.meldingsnummer)
    _add(el, "identificatiecodeBedrijfsdocumentAanlevering", sim.document_id)
    _add(el, "brin", sim.brin)
    _add(el, "verzuimsoort", sim.melding.verzuimsoort.value)
    _add(el, "begindatum", sim.melding.begindatum)
    _add(el, "einddatum", sim.melding.einddatum)
    _add(el, "status", sim.status.value)
    _add(el, "reden", sim.reden)
    _add(el, "toelichting", sim.toelichting)
    b = sim.behandelaar
    if any((b.naam, b.telefoonnummer, b.emailadres, b.organisatie)):
        beh = etree.SubElement(el, _q("behandelaar"))
        _add(beh, "naam", b.naam)
        _add(beh, "telefoonnummer", b.telefoonnummer)
        _add(beh, "emailadres", b.emailadres)
        _add(beh, "organisatie", b.organisatie)
    _add(el, "datumTijdLaatsteMutatie", sim.laatste_mutatie)
