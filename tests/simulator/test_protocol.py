"""The simulator enforces what DUO enforces, checked with a raw client over two-way TLS."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from adapter.duo import contract as c
from adapter.pki.testpki import issue_leaf
from adapter.simulator.server import SimulatorServer

from .conftest import DUO_OIN, SCHOOL_OIN, Raw, aanlevering_body, control, post


def test_valid_request_is_answered_with_full_wsa_headers(
        simulator: SimulatorServer, pki_dir: Path) -> None:
    raw = Raw()
    answer = post(simulator, pki_dir, raw)
    assert answer.status == 200
    assert answer.header("RelatesTo") == raw.message_id
    assert answer.header("From") == c.anonymous_address(DUO_OIN)
    assert answer.header("To") == c.anonymous_address(SCHOOL_OIN)
    assert answer.header("Action") == c.response_action(c.AANLEVEREN)
    assert c.MESSAGE_ID_RE.match(answer.header("MessageID") or "")
    assert answer.doc.findtext(f".//{{{c.SCHEMA_NS}}}leveringGoedgekeurd") == "true"
    assert answer.doc.findtext(f".//{{{c.SCHEMA_NS}}}meldingsnummer") == "100001"
    # The business-document block is echoed with the parties swapped.
    assert answer.doc.findtext(f".//{{{c.SCHEMA_NS}}}verzendendeInstantie") == "DUO"
    assert answer.doc.findtext(f".//{{{c.SCHEMA_NS}}}ontvangendeInstantie") == "00AA"


def test_xsd_invalid_body_is_dk0004_without_values(simulator: SimulatorServer,
                                                   pki_dir: Path) -> None:
    answer = post(simulator, pki_dir, Raw(body=aanlevering_body(bsn="98765")))
    assert answer.status == 500
    assert answer.faultcode == "soapenv:Client.DK0004"
    assert b"98765" not in answer.text
    assert b"burgerservicenummer" in answer.text         # names the element
    assert control(simulator, "ledger") == {}


_BAD_OIN = "http://www.w3.org/2005/08/addressing/anonymous?oin=abc"


@pytest.mark.parametrize("changes, code", [
    ({"to": None}, "Client.DK0005"),
    ({"action": "", "soap_action": c.soap_action(c.AANLEVEREN)}, "Client.DK0006"),
    ({"message_id": None}, "Client.DK0007"),
    ({"from_address": None}, "Client.EK0020"),
    ({"from_address": _BAD_OIN}, "Client.EK0021"),
    ({"to": _BAD_OIN}, "Client.EK0022"),
    ({"to": c.anonymous_address("00000099000000000009")}, "Client.DK0011"),
    ({"message_id": "urn:uuid:not-a-uuid"}, "Client.EK0023"),
    ({"extra_headers": f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"},
     "Client.DK0011"),
    ({"extra_headers": "<x:Custom xmlns:x='urn:x'>1</x:Custom>"}, "Client.DK0010"),
    ({"soap_action": f"{c.CONTRACT_NS}/bestaatNiet"}, "Client.DK0003"),
    ({"soap_action": c.soap_action(c.OPVRAGEN)}, "Client.DK0003"),
    ({"content_type": "text/xml; charset=ISO-8859-1"}, "Client.DK0009"),
    ({"content_type": "application/json"}, "Client.DK0009"),
    # Our signer refuses a SOAP 1.2 envelope; DK0001 comes before the signature check anyway.
    ({"envelope_ns": "http://www.w3.org/2003/05/soap-envelope", "sign": False},
     "VersionMismatch.DK0001"),
    ({"operation": c.OPVRAGEN, "body": aanlevering_body()}, "Client.DK0004"),
    ({"body": aanlevering_body(bsn="12345")}, "Client.DK0004"),
    # A DTD put in front of a correctly signed envelope.
    ({"mangle": lambda data: data.replace(b"?>", b"?><!DOCTYPE x [<!ENTITY e 'x'>]>", 1)},
     "Client.DK0004"),
    ({"mangle": lambda data: data.replace(b"?>", b"?><!DOCTYPE x SYSTEM 'file:///etc/passwd'>",
                                          1)}, "Client.DK0004"),
])
def test_protocol_faults(changes: dict, code: str, simulator: SimulatorServer,
                         pki_dir: Path) -> None:
    raw = Raw(**changes)
    answer = post(simulator, pki_dir, raw)
    assert answer.status == 500
    assert answer.faultcode == f"soapenv:{code}"
    assert control(simulator, "ledger") == {}


def test_fault_relates_to_the_request_when_possible(simulator: SimulatorServer,
                                                    pki_dir: Path) -> None:
    raw = Raw(to=None)
    answer = post(simulator, pki_dir, raw)
    assert answer.faultcode == "soapenv:Client.DK0005"
    assert answer.header("RelatesTo") == raw.message_id
    assert answer.header("From") == c.anonymous_address(DUO_OIN)


def test_non_utf8_body_is_dk0009(simulator: SimulatorServer, pki_dir: Path) -> None:
    data = Raw(body=aanlevering_body().replace("Spijbelen", "Spijbel\u00e9n")).xml()
    answer = post(simulator, pki_dir, Raw(), data=data.decode().encode("latin-1"))
    assert answer.faultcode == "soapenv:Client.DK0009"


def test_certificate_without_oin_is_ek0030(simulator: SimulatorServer, pki_dir: Path) -> None:
    now = datetime.now(timezone.utc)
    cert = issue_leaf(pki_dir, "sim-no-oin", oin=None, not_before=now - timedelta(days=1),
                      not_after=now + timedelta(days=10))
    assert post(simulator, pki_dir, Raw(), cert=cert).faultcode == "soapenv:Client.EK0030"


def test_no_client_certificate_is_refused_in_the_handshake(simulator: SimulatorServer,
                                                           pki_dir: Path) -> None:
    session = requests.Session()
    session.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        session.post(simulator.soap_url, data=Raw().xml(),
                     verify=str(pki_dir / "trust-bundle.pem"), timeout=5)
    assert control(simulator, "ledger") == {}


def test_foreign_client_certificate_is_refused(simulator: SimulatorServer,
                                               pki_dir: Path) -> None:
    now = datetime.now(timezone.utc)
    cert = issue_leaf(pki_dir, "sim-foreign", oin=SCHOOL_OIN, foreign=True,
                      not_before=now - timedelta(days=1), not_after=now + timedelta(days=10))
    with pytest.raises(requests.exceptions.SSLError):
        post(simulator, pki_dir, Raw(), cert=cert)
    # The server survives refused handshakes and keeps serving.
    assert post(simulator, pki_dir, Raw()).status == 200


def test_server_context_requires_tls12_and_client_certificates(pki_dir: Path) -> None:
    import ssl

    from adapter.simulator.httpd import server_context
    ctx = server_context(str(pki_dir / "duo.pem"), str(pki_dir / "duo-key.pem"),
                         str(pki_dir / "trust-bundle.pem"))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED
