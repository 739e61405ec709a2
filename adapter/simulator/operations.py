"""DUO's functional layer: what happens to an XSD-valid request.

Functional outcomes are ``leveringGoedgekeurd=false`` + foutmeldingen (never
faults): the shape of DUO's newer services (§2.7 [F]), with a *list* of errors and
one ``sleutelgegeven`` ``veld`` naming the element [I]. The simulator decides with its own code: it reads the body itself
(:mod:`adapter.simulator.request`), applies its content rules
(:mod:`adapter.simulator.rules`, ``VZ0xx``) with the student's birth date from
the request or else from its ROD [I], and its rules against what it holds
(:mod:`adapter.simulator.register`, ``VZ9xx``; every one a guess, see there).

Per operation, in this order (an earlier failure answers alone):

- aanleveren: VZ900; then content rules, VZ908 (ROD), VZ905 (follow-up), VZ907
  (overlap), all reported together;
- wijzigen: VZ900; VZ901/VZ902; VZ904/VZ903 (stamp); then content rules, VZ906
  (student, soort, begindatum kept), VZ908, VZ905, VZ907 (other reports) together;
- intrekken: VZ900; VZ901/VZ902; VZ904/VZ903;
- aanleverenBijlage: VZ900; VZ901 (a closed report still takes attachments [I]);
- opvragen/opvragenGewijzigde: no errors; an unknown report has no element.

``opvragenVerzuimmelding`` finds a report by ``meldingsnummer``, by
``identificatiecodeBedrijfsdocumentAanlevering`` (the aanlevering's document id),
or by ``identificatiecodeBedrijfsdocumentMutatie``: the document id of *any*
processed ``aanleveren``, ``wijzigen`` or ``intrekken`` of it, answering with the
report as it is now. That DUO can look up a wijziging or intrekking by its
business-document id is a guess [I]: §2.3 makes the id a chain-wide track &
trace id [F], but no look-up by it is documented. Only processed (registered)
documents are found; a functionally rejected one is not.

``require_stamp`` (default on; ``--no-require-stamp`` turns it off) makes VZ904
apply: every wijzigen and intrekken must carry ``datumTijdLaatsteMutatie``.
A document id counts as *used* only once it was registered, so a resend after a
functional rejection gets the same rejection, not VZ900.
"""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import date, datetime, timezone
from typing import Callable

from lxml import etree

from adapter.duo import contract as c
from adapter.simulator import register as reg
from adapter.simulator.model import Report, Status
from adapter.simulator.request import (
    bedrijfsdocument,
    read_datetime,
    read_report,
    target,
    write_datetime,
)
from adapter.simulator.rules import check_report
from adapter.simulator.state import SimMelding, SimState
from adapter.simulator.wire import text_of, vz

Fout = tuple[str, str, str]               # (code, field, text)
#: What an operation handler returns: DUO's errors, and what fills a good answer.
Outcome = tuple[list[Fout], Callable[[etree._Element], None] | None]


def _add(parent: etree._Element, name: str, value: object | None) -> etree._Element | None:
    if value is None or value == "":
        return None                                   # empty optional elements are omitted
    el = etree.SubElement(parent, vz(name))
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, datetime):
        el.text = write_datetime(value)
    elif isinstance(value, date):
        el.text = value.isoformat()
    else:
        el.text = str(value)
    return el


class Operations:
    """Handles the six operations against a :class:`SimState`."""

    def __init__(self, state: SimState, *, page_size: int = 100,
                 today: Callable[[], date] = date.today, require_stamp: bool = True) -> None:
        self.state = state
        self.page_size = page_size
        self.today = today
        self.require_stamp = require_stamp

    def handle(self, operation: str, body: etree._Element) -> etree._Element:
        doc = bedrijfsdocument(body)
        resp = etree.Element(vz(f"{operation}_Response"), nsmap={"vz": c.SCHEMA_NS})
        _add(resp, "identificatiecodeBedrijfsdocument", doc.document_id)
        _add(resp, "verzendendeInstantie", doc.receiver)     # DUO swaps the parties
        _add(resp, "ontvangendeInstantie", doc.sender)
        _add(resp, "datumTijdBedrijfsdocument", datetime.now(timezone.utc))
        handler = getattr(self, f"_{operation}")
        with self.state.lock:
            fouten, fill = handler(body)
        _add(resp, "leveringGoedgekeurd", not fouten)
        for code, field, text in fouten:
            f = etree.SubElement(resp, vz("foutmelding"))
            _add(f, "foutcode", code)
            _add(f, "fouttekst", f"{field}: {text}"[:200])
            s = etree.SubElement(f, vz("sleutelgegeven"))
            _add(s, "sleutelnaam", "veld")
            _add(s, "sleutelwaarde", field[:25])
        if fill is not None:
            fill(resp)
        return resp

    # ---- helpers --------------------------------------------------------------------

    def _content(self, report: Report, *, itself: str | None = None,
                 before: SimMelding | None = None) -> list[Fout]:
        """Content rules, identity kept (wijzigen), ROD, follow-up, overlap."""
        birth = report.pupil.geboortedatum or self.state.birth_date(
            report.pupil.bsn, report.pupil.onderwijsnummer)
        # Both rules look at this student's reports only (a follow-up of another
        # student's report is as unknown as one of no report).
        held = self.state.of_pupil(report.pupil.key)
        return [*check_report(report, birth=birth, today=self.today()),
                *(reg.check_identity_kept(before, report) if before is not None else []),
                *reg.check_in_registry(report.pupil, self.state.rod),
                *reg.check_follow_up(report, held),
                *reg.check_no_overlap(report, held, itself=itself)]

    def _used(self, body: etree._Element) -> list[Fout]:
        if bedrijfsdocument(body).document_id in self.state.ledger:
            return [(c.DUPLICATE_DOCUMENT_CODE, "bedrijfsdocument", c.DUPLICATE_DOCUMENT_TEXT)]
        return []

    def _open_target(self, body: etree._Element, *, stamp: bool) -> tuple[SimMelding | None,
                                                                          list[Fout]]:
        named = target(body)
        sim = self.state.meldingen.get(named.meldingsnummer or "")
        fouten = reg.check_target(sim, named.brin)
        if not fouten and sim is not None and stamp:
            fouten = reg.check_stamp(sim, named.stamp, required=self.require_stamp)
        return (sim if not fouten else None), fouten

    def _register(self, body: etree._Element, sim: SimMelding) -> None:
        """Record a processed mutation of ``sim``: the ledger, and the look-up by its id."""
        doc_id = bedrijfsdocument(body).document_id
        self.state.ledger[doc_id] = self.state.ledger.get(doc_id, 0) + 1
        self.state.by_mutation[doc_id] = sim.meldingsnummer

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
        report = read_report(body)
        if fouten := self._content(report):
            return fouten, None
        doc_id = bedrijfsdocument(body).document_id
        sim = SimMelding(meldingsnummer=self.state.next_meldingsnummer(), document_id=doc_id,
                         brin=report.brin, report=report, status=Status.R,
                         laatste_mutatie=self.state.next_stamp(), status_since=time.monotonic())
        self.state.add_melding(sim)
        self.state.by_document[doc_id] = sim.meldingsnummer
        self._register(body, sim)
        return [], self._registratie(sim)

    def _wijzigenVerzuimmelding(self, body: etree._Element) -> Outcome:  # noqa: N802
        if fouten := self._used(body):
            return fouten, None
        sim, fouten = self._open_target(body, stamp=True)
        if sim is None:
            return fouten, None
        report = read_report(body)
        if fouten := self._content(report, itself=sim.meldingsnummer, before=sim):
            return fouten, None
        sim.report = report
        self.state.touch(sim)
        self._register(body, sim)
        return [], self._registratie(sim)

    def _intrekkenVerzuimmelding(self, body: etree._Element) -> Outcome:  # noqa: N802
        if fouten := self._used(body):
            return fouten, None
        sim, fouten = self._open_target(body, stamp=True)
        if sim is None:
            return fouten, None
        self.state.set_status(sim, Status.I, monotonic_now=time.monotonic())
        self._register(body, sim)
        return [], self._registratie(sim)

    def _opvragenVerzuimmelding(self, body: etree._Element) -> Outcome:  # noqa: N802
        nummer = text_of(body, "meldingsnummer")
        if nummer is None and (aanlevering := text_of(
                body, "identificatiecodeBedrijfsdocumentAanlevering")) is not None:
            nummer = self.state.by_document.get(aanlevering)
        elif nummer is None:                                              # [I] see above
            nummer = self.state.by_mutation.get(
                text_of(body, "identificatiecodeBedrijfsdocumentMutatie") or "")
        sim = self.state.meldingen.get(nummer or "")
        if sim is None or sim.brin != text_of(body, "brin"):
            return [], None                            # unknown: no verzuimmelding element
        return [], lambda resp: status_element(resp, sim)

    def _opvragenGewijzigdeVerzuimmeldingen(self, body: etree._Element) -> Outcome:  # noqa: N802
        since_text = text_of(body, "selectiemoment")
        since = read_datetime(since_text) if since_text else None
        page, nxt, more = self.state.changes(text_of(body, "brin") or "", since, self.page_size)

        def fill(resp: etree._Element) -> None:
            for sim in page:
                status_element(resp, sim)
            _add(resp, "volgendSelectiemoment", nxt)
            _add(resp, "meerGegevens", more)
        return [], fill

    def _aanleverenBijlage(self, body: etree._Element) -> Outcome:  # noqa: N802
        if fouten := self._used(body):
            return fouten, None
        named = target(body)
        sim = self.state.meldingen.get(named.meldingsnummer or "")
        if sim is None or sim.brin != named.brin:
            return [reg.unknown_report()], None
        bijlage_id = f"B{len(sim.bijlagen) + 1}-{sim.meldingsnummer}"
        content = base64.b64decode(text_of(body, "inhoud") or "")
        sim.bijlagen.append({"bijlage_id": bijlage_id, "bestandsnaam": text_of(body, "bestandsnaam"),
                             "mime_type": text_of(body, "mimeType"), "size": len(content),
                             "sha256": hashlib.sha256(content).hexdigest()})
        self._register(body, sim)

        def fill(resp: etree._Element) -> None:
            _add(resp, "bijlageId", bijlage_id)
        return [], fill


def status_element(parent: etree._Element, sim: SimMelding) -> None:
    """Append a ``verzuimmelding`` (Verzuimmeldingstatus) for ``sim`` to ``parent``."""
    el = etree.SubElement(parent, vz("verzuimmelding"))
    _add(el, "meldingsnummer", sim.meldingsnummer)
    _add(el, "identificatiecodeBedrijfsdocumentAanlevering", sim.document_id)
    _add(el, "brin", sim.brin)
    _add(el, "verzuimsoort", sim.report.soort.value)
    _add(el, "begindatum", sim.report.begindatum)
    _add(el, "einddatum", sim.report.einddatum)
    _add(el, "status", sim.status.value)
    _add(el, "reden", sim.reden)
    _add(el, "toelichting", sim.toelichting)
    if not sim.behandelaar.empty():
        beh = etree.SubElement(el, vz("behandelaar"))
        for key, value in sim.behandelaar.as_dict().items():
            _add(beh, key, value)
    _add(el, "datumTijdLaatsteMutatie", sim.laatste_mutatie)
