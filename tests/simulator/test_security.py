"""The simulator enforces the Edukoppeling signature profile and SaaS mandates, like DUO.

Every request is built by the raw client, signed with our signer, then broken in
exactly one way; the simulator must answer with exactly DUO's fault code.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree

from adapter.duo import contract as c
from adapter.duo.wsse import DS_NS, RESPONSE_PARTS
from adapter.duo.wsse_verify import SignatureInvalid, verify_envelope
from adapter.errors import ConfigError
from adapter.pki.testpki import issue_leaf
from adapter.simulator.server import SimulatorServer

from .conftest import (DUO_OIN, SCHOOL_OIN, Raw, aanlevering_body, control, fixed_today,
                       post)

OTHER_OIN = "00000099000000000002"
W = f"{{{c.WSA_NS}}}"
U = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def sim(pki_dir: Path) -> Iterator[SimulatorServer]:
    """One strict simulator for this module (reset before each test)."""
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(sim: SimulatorServer) -> None:
    control(sim, "reset", {})
    control(sim, "mandates", {"mandates": {}})


@pytest.fixture(scope="module")
def leaf(pki_dir: Path) -> Callable[..., tuple[Path, Path]]:
    def make(name: str, *, oin: str | None = SCHOOL_OIN, foreign: bool = False
             ) -> tuple[Path, Path]:
        return issue_leaf(pki_dir, name, oin=oin, foreign=foreign,
                          not_before=_now() - timedelta(days=1),
                          not_after=_now() + timedelta(days=30))
    return make


def duo_cert(pki_dir: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates((pki_dir / "duo.pem").read_bytes())[0]


def signature_value(env: etree._Element) -> etree._Element:
    return env.find(f".//{{{DS_NS}}}SignatureValue")


def flip_signature(env: etree._Element) -> None:
    value = signature_value(env)
    raw = bytearray(base64.b64decode(value.text))
    raw[10] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()


def set_header(name: str, text: str) -> Callable[[etree._Element], None]:
    def change(env: etree._Element) -> None:
        el = env.find(f"{{{c.SOAP11_NS}}}Header/{W}{name}")
        if name == "From":
            el = el.find(f"{W}Address")
        el.text = text
    return change


def shift_created(env: etree._Element) -> None:
    created = env.find(f".//{U}Created")          # one millisecond moved: ….123Z → ….121Z
    created.text = created.text[:-2] + ("1Z" if created.text[-2] != "1" else "2Z")


def change_body(env: etree._Element) -> None:
    env.find(f".//{{{c.SCHEMA_NS}}}vermoedelijkeReden").text = "Ziek"


def expect_fault(sim: SimulatorServer, pki_dir: Path, raw: Raw, code: str,
                 cert: tuple[Path, Path] | None = None) -> bytes:
    answer = post(sim, pki_dir, raw, cert=cert)
    assert (answer.status, answer.faultcode) == (500, f"soapenv:{code}")
    assert control(sim, "ledger") == {}
    # The fault is signed by DUO and relates to the request when it could be read.
    verify_envelope(answer.doc, trusted_cert=duo_cert(pki_dir),
                    required_parts=("Body", "Timestamp", "BinarySecurityToken", "From"))
    return answer.text


# ---- the happy path -------------------------------------------------------------------

def test_signed_request_is_accepted_and_the_answer_is_signed_by_duo(
        sim: SimulatorServer, pki_dir: Path) -> None:
    raw = Raw()
    answer = post(sim, pki_dir, raw)
    assert answer.status == 200
    verified = verify_envelope(answer.doc, trusted_cert=duo_cert(pki_dir),
                               required_parts=RESPONSE_PARTS)
    assert set(RESPONSE_PARTS) | {"To"} <= set(verified.signed_parts)
    assert answer.header("RelatesTo") == raw.message_id
    assert len(control(sim, "ledger")) == 1


def test_timestamp_within_clock_skew_is_accepted(sim: SimulatorServer, pki_dir: Path) -> None:
    # Expired two minutes ago, but the simulator allows 300 s of skew.
    raw = Raw(sign_now=_now() - timedelta(minutes=7), ttl=300)
    assert post(sim, pki_dir, raw).status == 200


# ---- EK0031: the signature ------------------------------------------------------------

@pytest.mark.parametrize("changes, check", [
    ({"sign": False}, "security_header_missing"),
    ({"after_signing": flip_signature}, "signature_value_invalid"),
    # Moments are taken when the test runs, not when it is collected (a slow suite
    # reaches this test well over the skew after collection).
    ({"sign_now": lambda: _now() - timedelta(minutes=20), "ttl": 300}, "timestamp_expired"),
    ({"sign_now": lambda: _now() + timedelta(minutes=20)}, "timestamp_in_future"),
    ({"after_signing": lambda env: env.find(f".//{{{DS_NS}}}DigestMethod").set(
        "Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")}, "algorithm_not_allowed"),
    ({"after_signing": lambda env: env.find(f".//{{{DS_NS}}}SignatureMethod").set(
        "Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")}, "algorithm_not_allowed"),
], ids=["unsigned", "bad-value", "expired", "future", "sha1-digest", "rsa-sha1"])
def test_signature_faults_are_ek0031(changes: dict, check: str, sim: SimulatorServer,
                                     pki_dir: Path) -> None:
    changes = {k: v() if k == "sign_now" else v for k, v in changes.items()}
    text = expect_fault(sim, pki_dir, Raw(**changes), "Client.EK0031")
    assert check.encode() in text                       # the detail names the check


@pytest.mark.parametrize("part", ["Body", "Timestamp", "BinarySecurityToken", "To", "Action",
                                  "MessageID", "From"])
def test_every_required_part_must_be_signed(part: str, sim: SimulatorServer,
                                            pki_dir: Path) -> None:
    parts = tuple(p for p in ("Body", "Timestamp", "BinarySecurityToken", "To", "Action",
                              "MessageID", "From") if p != part)
    text = expect_fault(sim, pki_dir, Raw(sign_parts=parts), "Client.EK0031")
    assert f"part_not_signed {part}".encode() in text


@pytest.mark.parametrize("changes", [
    {"after_signing": set_header("To", c.anonymous_address(DUO_OIN) + "&x=1")},
    # Action and SOAPAction changed together (both name opvragen): only the signature sees it.
    {"soap_action": c.soap_action(c.OPVRAGEN),
     "after_signing": set_header("Action", c.soap_action(c.OPVRAGEN))},
    {"after_signing": set_header("MessageID", f"urn:uuid:{uuid.uuid4()}")},
    {"after_signing": set_header("From", c.anonymous_address(OTHER_OIN))},
    {"after_signing": shift_created},
    {"after_signing": change_body},
], ids=["To", "Action", "MessageID", "From", "Timestamp", "Body"])
def test_changing_a_signed_part_after_signing_is_ek0031(
        changes: dict, sim: SimulatorServer, pki_dir: Path) -> None:
    changes = {k: v() if k == "sign_now" else v for k, v in changes.items()}
    text = expect_fault(sim, pki_dir, Raw(**changes), "Client.EK0031")
    assert b"digest_mismatch" in text
    assert b"Ziek" not in text


def test_token_from_a_foreign_ca_is_ek0031(sim: SimulatorServer, pki_dir: Path,
                                           leaf: Callable[..., tuple[Path, Path]]) -> None:
    signing = leaf("sig-foreign", foreign=True)
    text = expect_fault(sim, pki_dir, Raw(signing=signing), "Client.EK0031")
    assert b"token_untrusted" in text


def test_token_with_another_oin_than_the_tls_certificate_is_ek0031(
        sim: SimulatorServer, pki_dir: Path, leaf: Callable[..., tuple[Path, Path]]) -> None:
    signing = leaf("sig-other-oin", oin=OTHER_OIN)
    expect_fault(sim, pki_dir, Raw(signing=signing), "Client.EK0031")


def test_a_second_signature_is_ek0031(sim: SimulatorServer, pki_dir: Path) -> None:
    def duplicate(env: etree._Element) -> None:
        signature = env.find(f".//{{{DS_NS}}}Signature")
        signature.getparent().append(etree.fromstring(etree.tostring(signature)))
    text = expect_fault(sim, pki_dir, Raw(after_signing=duplicate), "Client.EK0031")
    assert b"signature_not_once" in text


# ---- EK0030, DK0002: who may send for whom ----------------------------------------------

def test_tls_certificate_without_oin_is_ek0030(sim: SimulatorServer, pki_dir: Path,
                                              leaf: Callable[..., tuple[Path, Path]]) -> None:
    expect_fault(sim, pki_dir, Raw(), "Client.EK0030", cert=leaf("tls-no-oin", oin=None))


def test_from_oin_not_mandated_is_dk0002_until_mandated(sim: SimulatorServer,
                                                        pki_dir: Path) -> None:
    raw = Raw(from_address=c.anonymous_address(OTHER_OIN))
    expect_fault(sim, pki_dir, raw, "Client.DK0002")
    control(sim, "mandates", {"mandates": {SCHOOL_OIN: [OTHER_OIN]}})
    answer = post(sim, pki_dir, Raw(from_address=c.anonymous_address(OTHER_OIN)))
    assert answer.status == 200
    assert answer.header("To") == c.anonymous_address(OTHER_OIN)
    # A mandate for another certificate OIN does not help.
    control(sim, "mandates", {"mandates": {"00000099000000000009": [OTHER_OIN]}})
    answer = post(sim, pki_dir, Raw(from_address=c.anonymous_address(OTHER_OIN)))
    assert answer.faultcode == "soapenv:Client.DK0002"
    assert len(control(sim, "ledger")) == 1


def test_mandate_file(pki_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "mandates.json"
    good.write_text(json.dumps({"mandates": {SCHOOL_OIN: [OTHER_OIN]}}))
    server = SimulatorServer(pki_dir, port=0, control_port=0, mandate_file=good)
    assert server.state.may_send_for(SCHOOL_OIN, OTHER_OIN)
    assert server.state.may_send_for(OTHER_OIN, OTHER_OIN)          # own OIN
    assert not server.state.may_send_for(OTHER_OIN, SCHOOL_OIN)
    for content in ('{"mandates": {"abc": ["x"]}}', '{"mandates": []}', "{}", "nope"):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(ConfigError, match="mandate file"):
            SimulatorServer(pki_dir, port=0, control_port=0, mandate_file=bad)


@pytest.mark.parametrize("body", [{"mandates": []}, {"mandates": {SCHOOL_OIN: "x"}},
                                  {"mandates": {"short": [OTHER_OIN]}}, {}])
def test_control_mandates_validates(body: dict, sim: SimulatorServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        control(sim, "mandates", body)
    assert info.value.code == 400


# ---- answers the client must refuse, and the unsigned profile ---------------------------

@pytest.mark.parametrize("mode, check", [("bad_signature", "signature_value_invalid"),
                                         ("unsigned", "security_header_missing")])
def test_fault_modes_spoil_the_answer_signature(mode: str, check: str, sim: SimulatorServer,
                                                pki_dir: Path) -> None:
    control(sim, "faults", {"mode": mode, "count": 1})
    answer = post(sim, pki_dir, Raw())
    assert answer.status == 200                          # handled and registered …
    assert len(control(sim, "ledger")) == 1
    with pytest.raises(SignatureInvalid) as info:        # … but not provably by DUO
        verify_envelope(answer.doc, trusted_cert=duo_cert(pki_dir),
                        required_parts=RESPONSE_PARTS)
    assert info.value.check == check
    again = post(sim, pki_dir, Raw())                     # only the next n answers
    verify_envelope(again.doc, trusted_cert=duo_cert(pki_dir), required_parts=RESPONSE_PARTS)


def test_unsigned_profile_when_signatures_are_not_required(pki_dir: Path) -> None:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today, require_signature=False) as lax:
        assert post(lax, pki_dir, Raw(sign=False)).status == 200
        # A signature that is present must still be valid.
        answer = post(lax, pki_dir, Raw(after_signing=flip_signature))
        assert answer.faultcode == "soapenv:Client.EK0031"
        assert len(control(lax, "ledger")) == 1


def test_clock_skew_is_configurable(pki_dir: Path) -> None:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today, clock_skew=0.0) as strict:
        answer = post(strict, pki_dir, Raw(sign_now=_now() - timedelta(minutes=7), ttl=300))
        assert answer.faultcode == "soapenv:Client.EK0031"
        assert b"timestamp_expired" in answer.text


def test_body_of_a_valid_request_is_checked_against_the_xsd_last(
        sim: SimulatorServer, pki_dir: Path) -> None:
    # Signed correctly, authorised, but not valid against the XSD.
    text = expect_fault(sim, pki_dir, Raw(body=aanlevering_body(bsn="12")), "Client.DK0004")
    assert b"burgerservicenummer" in text and b">12<" not in text
