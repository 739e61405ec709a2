"""DuoClient speaks the signed Edukoppeling profile to the strict simulator, over real TLS."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree

from adapter.config import SchoolSettings
from adapter.duo import contract
from adapter.duo.client import DuoClient
from adapter.duo.wsse import REQUEST_PARTS
from adapter.duo.wsse_verify import verify_envelope
from adapter.errors import ConfigError, SystemFault
from adapter.pki.testpki import issue_leaf
from adapter.simulator.server import SimulatorServer
from adapter.store.api import ExchangeRecord

from .conftest import BRIN, SCHOOL_OIN, control, fixed_today, melding, valid_bsn

SUPPLIER_OIN = "00000003123456780000"
SCHOOL_A = SchoolSettings(brin="11AA", oin="00000099000000000011")
SCHOOL_B = SchoolSettings(brin="22BB", oin="00000099000000000022")
SCHOOL_C = SchoolSettings(brin="33CC", oin="00000099000000000033")
W = f"{{{contract.WSA_NS}}}"


def new_id() -> str:
    return str(uuid.uuid4())


def leaf(pki_dir: Path, name: str, oin: str) -> tuple[Path, Path]:
    now = datetime.now(timezone.utc)
    return issue_leaf(pki_dir, name, oin=oin, not_before=now - timedelta(days=1),
                      not_after=now + timedelta(days=30))


def from_oin(exchange: ExchangeRecord) -> str | None:
    env = etree.fromstring(exchange.request_xml)
    address = env.findtext(f"{{{contract.SOAP11_NS}}}Header/{W}From/{W}Address") or ""
    return contract.oin_from_address(address)


def sender(exchange: ExchangeRecord) -> str | None:
    env = etree.fromstring(exchange.request_xml)
    return env.findtext(f".//{{{contract.SCHEMA_NS}}}verzendendeInstantie")


def test_requests_are_signed_and_every_part_verifies(
        client: DuoClient, pki_dir: Path, exchanges: list[ExchangeRecord]) -> None:
    client.aanleveren(melding(), document_id=new_id())
    bundle = x509.load_pem_x509_certificates((pki_dir / "trust-bundle.pem").read_bytes())
    verified = verify_envelope(etree.fromstring(exchanges[0].request_xml), trust_store=bundle,
                               required_parts=REQUEST_PARTS)
    assert set(verified.signed_parts) == set(REQUEST_PARTS)
    assert b"\n  " not in exchanges[0].request_xml                 # never pretty-printed


@pytest.mark.parametrize("mode", ["bad_signature", "unsigned"])
def test_answer_without_a_valid_duo_signature_is_a_system_fault(
        mode: str, client: DuoClient, simulator: SimulatorServer,
        exchanges: list[ExchangeRecord]) -> None:
    control(simulator, "faults", {"mode": mode, "count": 1})
    doc = new_id()
    with pytest.raises(SystemFault, match="response_signature_invalid"):
        client.aanleveren(melding(), document_id=doc)
    # DUO (the simulator) did register it; we must not believe the answer, so the
    # report is not treated as registered and reconciliation finds it later.
    assert control(simulator, "ledger") == {doc: 1}
    assert exchanges[-1].outcome == "system" and exchanges[-1].response_xml
    found = client.opvragen(brin=BRIN, document_id=doc)
    assert found is not None and found.identificatiecode_bedrijfsdocument == doc


def test_verification_can_be_switched_off(make_client: Callable[..., DuoClient],
                                          simulator: SimulatorServer) -> None:
    control(simulator, "faults", {"mode": "bad_signature", "count": 1})
    client = make_client(verify_responses=False)
    assert client.aanleveren(melding(), document_id=new_id()).meldingsnummer


def test_answer_signed_by_another_certificate_is_refused(
        make_client: Callable[..., DuoClient], pki_dir: Path) -> None:
    client = make_client(signature_cert=pki_dir / "school.pem")   # not DUO's certificate
    with pytest.raises(SystemFault, match="response_signature_invalid token_untrusted"):
        client.opvragen(brin=BRIN, meldingsnummer="1")


def test_unreadable_signature_certificate_is_a_config_error(
        make_client: Callable[..., DuoClient], tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        make_client(signature_cert=tmp_path / "missing.pem")


def test_unsigned_profile(make_client: Callable[..., DuoClient], pki_dir: Path,
                          exchanges: list[ExchangeRecord]) -> None:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today, require_signature=False) as lax:
        client = make_client(url=lax.soap_url, sign_requests=False)
        assert client.aanleveren(melding(), document_id=new_id()).meldingsnummer
    env = etree.fromstring(exchanges[-1].request_xml)
    assert env.find(f".//{{{contract.WSSE_NS}}}Security") is None


def test_unsigned_request_to_a_strict_peer_is_ek0031(
        make_client: Callable[..., DuoClient], simulator: SimulatorServer) -> None:
    with pytest.raises(SystemFault, match="EK0031"):
        make_client(sign_requests=False).aanleveren(melding(), document_id=new_id())
    assert control(simulator, "ledger") == {}


def test_separate_signing_certificate(make_client: Callable[..., DuoClient], pki_dir: Path,
                                      exchanges: list[ExchangeRecord]) -> None:
    cert, key = leaf(pki_dir, "school-signing", SCHOOL_OIN)
    client = make_client(signing_cert=cert, signing_key=key)
    assert client.aanleveren(melding(), document_id=new_id()).meldingsnummer
    token = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    verified = verify_envelope(etree.fromstring(exchanges[-1].request_xml), trusted_cert=token)
    assert verified.certificate == token


def test_saas_sends_each_school_with_its_own_oin(
        make_client: Callable[..., DuoClient], pki_dir: Path, simulator: SimulatorServer,
        exchanges: list[ExchangeRecord]) -> None:
    cert, key = leaf(pki_dir, "supplier", SUPPLIER_OIN)
    control(simulator, "mandates", {"mandates": {SUPPLIER_OIN: [SCHOOL_A.oin, SCHOOL_B.oin]}})
    client = make_client(client_cert=cert, client_key=key, school_oin=SUPPLIER_OIN,
                         schools=(SCHOOL_A, SCHOOL_B, SCHOOL_C))
    # Both schools at once from several threads: the From OIN is chosen per call.
    # Each report its own student: DUO keeps one open report per student, soort and period.
    jobs = list(enumerate([SCHOOL_A, SCHOOL_B] * 4))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: client.aanleveren(
            melding(brin=job[1].brin, bsn=valid_bsn(job[0])), document_id=new_id()), jobs))
    assert len({r.meldingsnummer for r in results}) == 8
    sent = [(sender(e), from_oin(e)) for e in exchanges]
    assert sorted(sent) == sorted([(SCHOOL_A.brin, SCHOOL_A.oin)] * 4
                                  + [(SCHOOL_B.brin, SCHOOL_B.oin)] * 4)
    # A school the supplier holds no mandate for: DK0002, our set-up, not the record.
    with pytest.raises(SystemFault, match="DK0002"):
        client.aanleveren(melding(brin=SCHOOL_C.brin), document_id=new_id())
    assert from_oin(exchanges[-1]) == SCHOOL_C.oin
    assert len(control(simulator, "ledger")) == 8
