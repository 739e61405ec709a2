"""Fixtures for the simulator tests: a test PKI, a running simulator, a raw SOAP client.

The raw client builds an envelope as text, signs it with our own signer
(:mod:`adapter.duo.wsse`) unless told not to, and then lets a test break one thing
(``after_signing`` on the tree, ``mangle`` on the bytes).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from adapter.duo import contract as c
from adapter.duo.wsse import sign_envelope
from adapter.simulator.server import SimulatorServer

from support import SCHOOL_OIN, TODAY, control, fixed_today, valid_bsn  # noqa: F401 - re-exported

DUO_OIN = "00000001800866472000"


@pytest.fixture()
def simulator(pki_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today) as sim:
        yield sim




def melding_xml(*, bsn: str = "123456782", brin: str = "00AA", soort: str = "O",
                begin: date | None = None, eind: date | None = None,
                vervolg: str | None = None) -> str:
    """The Melding group of a valid report (as text)."""
    begin = begin or TODAY - timedelta(days=5)
    return f"""<vz:onderwijsdeelnemer>
    <vz:burgerservicenummer>{bsn}</vz:burgerservicenummer>
  </vz:onderwijsdeelnemer>
  <vz:brin>{brin}</vz:brin>
  <vz:verzuimsoort>{soort}</vz:verzuimsoort>
  <vz:begindatum>{begin}</vz:begindatum>
  {f"<vz:einddatum>{eind}</vz:einddatum>" if eind else ""}
  <vz:vermoedelijkeReden>Spijbelen</vz:vermoedelijkeReden>
  <vz:melder>
    <vz:naam>M. Melder</vz:naam><vz:emailadres>m@school.example.org</vz:emailadres>
  </vz:melder>
  {f"<vz:vervolgOpMeldingsnummer>{vervolg}</vz:vervolgOpMeldingsnummer>" if vervolg else ""}"""


def _document(doc_id: str | None, brin: str = "00AA") -> str:
    return f"""<vz:identificatiecodeBedrijfsdocument>{doc_id or uuid.uuid4()}</vz:identificatiecodeBedrijfsdocument>
  <vz:verzendendeInstantie>{brin}</vz:verzendendeInstantie>
  <vz:ontvangendeInstantie>DUO</vz:ontvangendeInstantie>
  <vz:datumTijdBedrijfsdocument>2025-03-10T09:15:00.000Z</vz:datumTijdBedrijfsdocument>"""


def aanlevering_body(*, bsn: str = "123456782", doc_id: str | None = None, **melding: Any
                     ) -> str:
    """A valid aanleverenVerzuimmelding_Request body (as text); ``melding``: see melding_xml."""
    return f"""<vz:aanleverenVerzuimmelding_Request xmlns:vz="{c.SCHEMA_NS}">
  {_document(doc_id, melding.get("brin", "00AA"))}
  {melding_xml(bsn=bsn, **melding)}
</vz:aanleverenVerzuimmelding_Request>"""


def wijziging_body(nummer: str, *, stamp: str | None = None, doc_id: str | None = None,
                   **melding: Any) -> str:
    """A wijzigenVerzuimmelding_Request for report ``nummer`` (stamp only when given)."""
    stamp_el = (f"<vz:datumTijdLaatsteMutatie>{stamp}</vz:datumTijdLaatsteMutatie>"
                if stamp else "")
    return f"""<vz:wijzigenVerzuimmelding_Request xmlns:vz="{c.SCHEMA_NS}">
  {_document(doc_id, melding.get("brin", "00AA"))}
  <vz:meldingsnummer>{nummer}</vz:meldingsnummer>{stamp_el}
  {melding_xml(**melding)}
</vz:wijzigenVerzuimmelding_Request>"""


def intrekking_body(nummer: str, *, stamp: str | None = None, brin: str = "00AA",
                    doc_id: str | None = None) -> str:
    """An intrekkenVerzuimmelding_Request, with ``datumTijdLaatsteMutatie`` when ``stamp``."""
    stamp_el = (f"<vz:datumTijdLaatsteMutatie>{stamp}</vz:datumTijdLaatsteMutatie>"
                if stamp else "")
    return f"""<vz:intrekkenVerzuimmelding_Request xmlns:vz="{c.SCHEMA_NS}">
  {_document(doc_id, brin)}
  <vz:meldingsnummer>{nummer}</vz:meldingsnummer>{stamp_el}
  <vz:brin>{brin}</vz:brin>
</vz:intrekkenVerzuimmelding_Request>"""


@dataclass
class Raw:
    """Knobs for a hand-built request; ``None`` leaves a header out."""

    operation: str = c.AANLEVEREN
    body: str = field(default_factory=aanlevering_body)
    to: str | None = c.anonymous_address(DUO_OIN)
    action: str | None = None                 # default: SOAPAction of ``operation``
    message_id: str | None = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    from_address: str | None = c.anonymous_address(SCHOOL_OIN)
    extra_headers: str = ""
    soap_action: str | None = None            # HTTP header; default: = action
    content_type: str = "text/xml; charset=utf-8"
    envelope_ns: str = c.SOAP11_NS
    prolog: str = "<?xml version='1.0' encoding='UTF-8'?>"
    sign: bool = True
    signing: tuple[Path, Path] | None = None            # (cert, key); default: the school's
    sign_now: datetime | None = None
    ttl: float = 300.0
    sign_parts: tuple[str, ...] | None = None           # default: every part
    after_signing: Callable[[etree._Element], None] | None = None
    mangle: Callable[[bytes], bytes] | None = None

    def wire(self, pki_dir: Path) -> bytes:
        """The bytes to send: :meth:`xml`, signed, then broken as the knobs say."""
        data = self.xml()
        if self.sign:
            cert_path, key_path = self.signing or (pki_dir / "school.pem",
                                                   pki_dir / "school-key.pem")
            key, cert = _identity(cert_path, key_path)
            env = sign_envelope(etree.fromstring(data), key, cert, ttl_seconds=self.ttl,
                                now=self.sign_now, parts=self.sign_parts)
            if self.after_signing is not None:
                self.after_signing(env)
            data = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
        return self.mangle(data) if self.mangle is not None else data

    def xml(self) -> bytes:
        action = self.action if self.action is not None else c.soap_action(self.operation)
        parts = []
        if self.to is not None:
            parts.append(f"<wsa:To>{self.to}</wsa:To>")
        if action:
            parts.append(f"<wsa:Action>{action}</wsa:Action>")
        if self.message_id is not None:
            parts.append(f"<wsa:MessageID>{self.message_id}</wsa:MessageID>")
        if self.from_address is not None:
            parts.append(f"<wsa:From><wsa:Address>{self.from_address}</wsa:Address></wsa:From>")
        return (f"{self.prolog}<soapenv:Envelope xmlns:soapenv=\"{self.envelope_ns}\" "
                f"xmlns:wsa=\"{c.WSA_NS}\"><soapenv:Header>{''.join(parts)}"
                f"{self.extra_headers}</soapenv:Header><soapenv:Body>{self.body}"
                f"</soapenv:Body></soapenv:Envelope>").encode("utf-8")


@functools.lru_cache(maxsize=16)
def _identity(cert_path: Path, key_path: Path) -> tuple[object, x509.Certificate]:
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    return key, x509.load_pem_x509_certificates(cert_path.read_bytes())[0]


@dataclass
class Answer:
    status: int
    doc: etree._Element | None
    text: bytes

    @property
    def faultcode(self) -> str | None:
        return self.doc.findtext(".//faultcode") if self.doc is not None else None

    def find(self, name: str) -> str | None:
        """Text of the first ``vz:name`` in the answer."""
        return self.doc.findtext(f".//{{{c.SCHEMA_NS}}}{name}") if self.doc is not None else None

    @property
    def codes(self) -> list[str]:
        """The functional error codes (empty when approved)."""
        if self.doc is None:
            return []
        return [el.text or "" for el in self.doc.iter(f"{{{c.SCHEMA_NS}}}foutcode")]

    def header(self, name: str) -> str | None:
        if self.doc is None:
            return None
        el = self.doc.find(f"{{{c.SOAP11_NS}}}Header/{{{c.WSA_NS}}}{name}")
        if el is not None and name == "From":
            return el.findtext(f"{{{c.WSA_NS}}}Address")
        return el.text if el is not None else None


def post(sim: SimulatorServer, pki_dir: Path, raw: Raw, *, data: bytes | None = None,
         cert: tuple[Path, Path] | None = None) -> Answer:
    """POST a hand-built request over two-way TLS (the school's certificate by default)."""
    session = requests.Session()
    session.trust_env = False
    cert = cert or (pki_dir / "school.pem", pki_dir / "school-key.pem")
    action = raw.action if raw.action is not None else c.soap_action(raw.operation)
    soap_action = raw.soap_action if raw.soap_action is not None else action
    try:
        resp = session.post(sim.soap_url, data=data if data is not None else raw.wire(pki_dir),
                            headers={"Content-Type": raw.content_type,
                                     "SOAPAction": f'"{soap_action}"'},
                            verify=str(pki_dir / "trust-bundle.pem"),
                            cert=(str(cert[0]), str(cert[1])), timeout=(5, 10))
    finally:
        session.close()
    try:
        doc = etree.fromstring(resp.content)
    except etree.XMLSyntaxError:
        doc = None
    return Answer(resp.status_code, doc, resp.content)
