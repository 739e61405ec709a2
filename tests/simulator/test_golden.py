"""Golden request envelopes (``golden/``, one per operation, made once by the real client):

- each one, re-signed with a fresh timestamp by the test's own small signer
  (:func:`golden.resign`), is accepted by the simulator and answered as expected;
- today's client still produces envelopes with the goldens' structure.

So a change on either side shows: a client that sends something new fails the
structure test; a simulator that stops accepting what the client sent fails replay.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from adapter.duo import contract as c
from adapter.simulator.server import SimulatorServer

from .conftest import Answer, Raw, control, fixed_today, post
from .golden import DOCUMENT_IDS, client_requests, golden_path, resign, skeleton

V = f"{{{c.SCHEMA_NS}}}"


@pytest.fixture()
def sim(pki_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today) as server:
        yield server


def school(pki_dir: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key((pki_dir / "school-key.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificates((pki_dir / "school.pem").read_bytes())[0]
    return key, cert


def replay(sim: SimulatorServer, pki_dir: Path, operation: str,
           edit: Callable[[etree._Element], None] | None = None) -> Answer:
    key, cert = school(pki_dir)
    data = resign(golden_path(operation).read_bytes(), key=key, certificate=cert, edit=edit)
    return post(sim, pki_dir, Raw(operation=operation), data=data)


def golden_message_id(operation: str) -> str | None:
    return etree.fromstring(golden_path(operation).read_bytes()).findtext(
        f"{{{c.SOAP11_NS}}}Header/{{{c.WSA_NS}}}MessageID")


def test_there_is_one_golden_per_operation() -> None:
    assert sorted(p.stem for p in golden_path("x").parent.glob("*.xml")) == sorted(c.OPERATIONS)


@pytest.mark.parametrize("operation", c.OPERATIONS)
def test_golden_request_is_accepted_and_answered(operation: str, sim: SimulatorServer,
                                                  pki_dir: Path) -> None:
    stamp: str | None = None
    if operation != c.AANLEVEREN:                # every other golden names report 100001
        first = replay(sim, pki_dir, c.AANLEVEREN)
        assert first.codes == [] and first.find("meldingsnummer") == "100001"
        stamp = first.find("datumTijdLaatsteMutatie")

    def current_stamp(doc: etree._Element) -> None:
        # The golden carries the stamp of the day it was made; the school sends the current one.
        for el in doc.iter(f"{V}datumTijdLaatsteMutatie"):
            el.text = stamp

    answer = replay(sim, pki_dir, operation, edit=current_stamp if stamp else None)
    assert answer.status == 200, answer.text[:500]
    assert answer.header("RelatesTo") == golden_message_id(operation)
    assert answer.find("leveringGoedgekeurd") == "true" and answer.codes == []
    if operation in c.MUTATING:
        assert control(sim, "ledger")[DOCUMENT_IDS[operation]] == 1
    [held] = control(sim, "meldingen")
    if operation == c.AANLEVEREN:
        assert (answer.find("meldingsnummer"), answer.find("status")) == ("100001", "R")
        assert held["melding"]["verzuimdagen"][1]["lesuren"] == [1, 2, 3]
    elif operation == c.WIJZIGEN:
        assert answer.find("datumTijdLaatsteMutatie") != stamp
        assert held["melding"]["einddatum"] == "2026-03-15"
    elif operation == c.INTREKKEN:
        assert answer.find("status") == "I" and held["status"] == "I"
    elif operation == c.OPVRAGEN:
        assert answer.find("verzuimmelding/" + V + "meldingsnummer") == "100001"
    elif operation == c.OPVRAGEN_GEWIJZIGD:
        assert [el.text for el in answer.doc.iter(f"{V}meldingsnummer")] == ["100001"]
    elif operation == c.AANLEVEREN_BIJLAGE:
        assert answer.find("bijlageId") and held["bijlagen"][0]["bestandsnaam"] == "brief.pdf"


def test_a_golden_changed_after_resigning_is_refused(sim: SimulatorServer,
                                                     pki_dir: Path) -> None:
    """The replay signer really signs: touching the signed body afterwards is EK0031."""
    key, cert = school(pki_dir)
    data = resign(golden_path(c.AANLEVEREN).read_bytes(), key=key, certificate=cert)
    answer = post(sim, pki_dir, Raw(), data=data.replace(b"Spijbelen", b"Spijbelde"))
    assert answer.faultcode == "soapenv:Client.EK0031"
    assert control(sim, "ledger") == {}


def test_todays_client_sends_envelopes_shaped_like_the_goldens(sim: SimulatorServer,
                                                              pki_dir: Path) -> None:
    sent = client_requests(pki_dir, sim.soap_url)
    assert sorted(sent) == sorted(c.OPERATIONS)
    if os.environ.get("VERZUIM_REGENERATE_GOLDEN"):
        for operation, data in sent.items():
            golden_path(operation).write_bytes(data)
        pytest.skip("golden envelopes regenerated: review the diff")
    for operation, data in sent.items():
        want, got = skeleton(golden_path(operation).read_bytes()), skeleton(data)
        assert got == want, f"{operation} differs from its golden:\n" + "\n".join(
            difflib.unified_diff(want, got, "golden", "client", lineterm="", n=1))


def test_the_skeleton_sees_a_structural_change(pki_dir: Path) -> None:
    data = golden_path(c.WIJZIGEN).read_bytes()
    doc = etree.fromstring(data)
    to = doc.find(f"{{{c.SOAP11_NS}}}Header/{{{c.WSA_NS}}}To")
    assert to is not None
    del to.attrib[f"{{{c.WSU_NS}}}Id"]                  # e.g. the client stops signing To
    assert skeleton(etree.tostring(doc)) != skeleton(data)
    # … while a new timestamp, token, digests and signature value are not a change.
    key, cert = school(pki_dir)
    resigned = resign(data, key=key, certificate=cert)
    assert resigned != data and skeleton(resigned) == skeleton(data)
