"""Golden request envelopes: what the real client sends, one file per operation.

:func:`client_requests` drives the real :class:`~adapter.duo.client.DuoClient` through
the six operations with fixed inputs against a fresh simulator (``today`` fixed,
so the first report is 100001) and returns each request's bytes. The files in
``golden/`` were produced by it once; regenerate them after a deliberate change of
the client's envelopes with ``VERZUIM_REGENERATE_GOLDEN=1 pytest
tests/simulator/test_golden.py`` and review the diff.

:func:`skeleton` is what must stay equal between a golden file and today's client:
elements, their order, namespaces and prefixes, attribute names and stable values,
and texts, leaving out ids, timestamps, digests, signature values and the token.
:func:`resign` makes a golden sendable again (fresh timestamp, today's test
certificate) with a small signer of its own, keeping every Id and Reference.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from adapter.config import DuoSettings, SchoolSettings
from adapter.domain.model import Melder, Student, Verzuimdag, Verzuimmelding, Verzuimsoort
from adapter.duo import contract as c
from adapter.duo.client import DuoClient
from adapter.store.api import ExchangeRecord

from support import SCHOOL_OIN, TODAY

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
BRIN = "00AA"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
WSU_ID = f"{{{c.WSU_NS}}}Id"
#: Fixed business-document ids, so the goldens' bodies are reproducible.
DOCUMENT_IDS = {op: str(uuid.uuid5(uuid.NAMESPACE_URL, f"verzuim-adapter/golden/{op}"))
                for op in c.OPERATIONS}
SINCE = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)

#: Elements whose text differs per send (ids, moments, crypto values).
VOLATILE_TEXT = {(c.WSU_NS, "Created"), (c.WSU_NS, "Expires"), (DS, "DigestValue"),
                 (DS, "SignatureValue"), (c.WSSE_NS, "BinarySecurityToken"),
                 (c.WSA_NS, "MessageID"), (c.SCHEMA_NS, "datumTijdBedrijfsdocument"),
                 (c.SCHEMA_NS, "datumTijdLaatsteMutatie"),
                 # read-only calls get a fresh document id per send
                 (c.SCHEMA_NS, "identificatiecodeBedrijfsdocument")}
#: Attributes whose value differs per send (generated ids and references to them).
VOLATILE_ATTRS = {WSU_ID, "URI"}


def golden_path(operation: str) -> Path:
    return GOLDEN_DIR / f"{operation}.xml"


def report(**changes: object) -> Verzuimmelding:
    values: dict[str, object] = dict(
        source_id="golden-1", brin=BRIN, student=Student(bsn="123456782"),
        verzuimsoort=Verzuimsoort.V3, begindatum=TODAY - timedelta(days=20),
        einddatum=TODAY - timedelta(days=2), vermoedelijke_reden="Spijbelen",
        melder=Melder(naam="M. Melder", emailadres="melder@school.example.org"),
        verzuimdagen=(Verzuimdag(datum=TODAY - timedelta(days=20), hele_dag=True),
                      Verzuimdag(datum=TODAY - timedelta(days=19), lesuren=(1, 2, 3))))
    values.update(changes)
    return Verzuimmelding(**values)  # type: ignore[arg-type]


def client_requests(pki_dir: Path, soap_url: str) -> dict[str, bytes]:
    """The request bytes the real client sends for each operation (fresh simulator)."""
    exchanges: list[ExchangeRecord] = []
    settings = DuoSettings(url=soap_url, ca_bundle=pki_dir / "trust-bundle.pem",
                           client_cert=pki_dir / "school.pem",
                           client_key=pki_dir / "school-key.pem",
                           signature_cert=pki_dir / "duo.pem", connect_timeout=2.0,
                           read_timeout=5.0)
    ids = DOCUMENT_IDS
    with DuoClient(settings, SchoolSettings(brin=BRIN, oin=SCHOOL_OIN),
                   exchange_sink=exchanges.append) as client:
        first = client.aanleveren(report(), document_id=ids[c.AANLEVEREN])
        nummer = first.meldingsnummer
        client.aanleveren_bijlage(brin=BRIN, meldingsnummer=nummer, bestandsnaam="brief.pdf",
                                  mime_type="application/pdf", inhoud=b"%PDF-1.4 golden",
                                  document_id=ids[c.AANLEVEREN_BIJLAGE])
        client.opvragen(brin=BRIN, meldingsnummer=nummer)
        client.opvragen_gewijzigd(brin=BRIN, since=SINCE)
        changed = client.wijzigen(report(einddatum=TODAY - timedelta(days=1)),
                                  meldingsnummer=nummer, document_id=ids[c.WIJZIGEN],
                                  laatste_mutatie=first.laatste_mutatie)
        client.intrekken(report(), meldingsnummer=nummer, document_id=ids[c.INTREKKEN],
                         laatste_mutatie=changed.laatste_mutatie)
    return {e.operation: e.request_xml for e in exchanges}


def skeleton(data: bytes) -> list[str]:
    """One line per element: depth, name, own namespace declarations, attributes, text."""
    root = etree.fromstring(data)
    lines: list[str] = []

    def walk(el: etree._Element, depth: int, inherited: dict[str | None, str]) -> None:
        own = {p: ns for p, ns in el.nsmap.items() if inherited.get(p) != ns}
        attrs = {k: ("*" if k in VOLATILE_ATTRS else v) for k, v in el.attrib.items()}
        qname = etree.QName(el)
        text = (el.text or "").strip()
        if (qname.namespace, qname.localname) in VOLATILE_TEXT:
            text = "*" if text else ""
        lines.append(f"{'  ' * depth}{el.prefix}:{qname.localname} {{{qname.namespace}}} "
                     f"xmlns={sorted(own.items(), key=str)} attrs={sorted(attrs.items())} "
                     f"text={text!r}")
        for child in el:
            if isinstance(child.tag, str):
                walk(child, depth + 1, dict(el.nsmap))

    walk(root, 0, {})
    return lines


def resign(data: bytes, *, key: rsa.RSAPrivateKey, certificate: x509.Certificate,
           edit: Callable[[etree._Element], None] | None = None) -> bytes:
    """``data`` with a fresh Timestamp, ``certificate`` in its token, ``edit`` applied, and
    every DigestValue and the SignatureValue computed anew; Ids and References kept."""
    doc = etree.fromstring(data)
    now = datetime.now(timezone.utc)
    created = doc.find(f".//{{{c.WSU_NS}}}Created")
    expires = doc.find(f".//{{{c.WSU_NS}}}Expires")
    token = doc.find(f".//{{{c.WSSE_NS}}}BinarySecurityToken")
    assert created is not None and expires is not None and token is not None
    created.text = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    expires.text = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    token.text = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    if edit is not None:
        edit(doc)
    doc = etree.fromstring(etree.tostring(doc))          # canonicalise what is sent
    info = doc.find(f".//{{{DS}}}SignedInfo")
    assert info is not None
    for reference in info.findall(f"{{{DS}}}Reference"):
        [target] = [el for el in doc.iter() if el.get(WSU_ID) == reference.get("URI", "")[1:]]
        transform = reference.find(f"{{{DS}}}Transforms/{{{DS}}}Transform")
        value = reference.find(f"{{{DS}}}DigestValue")
        assert transform is not None and value is not None
        value.text = base64.b64encode(hashlib.sha256(_c14n(target, transform)).digest()).decode()
    doc = etree.fromstring(etree.tostring(doc))
    info = doc.find(f".//{{{DS}}}SignedInfo")
    method = doc.find(f".//{{{DS}}}CanonicalizationMethod")
    sig_value = doc.find(f".//{{{DS}}}SignatureValue")
    assert info is not None and method is not None and sig_value is not None
    sig_value.text = base64.b64encode(key.sign(_c14n(info, method), padding.PKCS1v15(),
                                               hashes.SHA256())).decode()
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


def _c14n(element: etree._Element, method: etree._Element) -> bytes:
    inclusive = method.find(f"{{{EXC}}}InclusiveNamespaces")
    prefixes = (inclusive.get("PrefixList") or "").split() if inclusive is not None else []
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False,
                          inclusive_ns_prefixes=prefixes or None)
