"""The simulator's own signature check (signxml underneath) against attacks on its structure."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from adapter.duo import contract as c
from adapter.simulator.server import SimulatorServer

from .conftest import Raw, aanlevering_body, control, fixed_today, post

S, W = f"{{{c.SOAP11_NS}}}", f"{{{c.WSSE_NS}}}"
WSU_ID = f"{{{c.WSU_NS}}}Id"


@pytest.fixture(scope="module")
def sim(pki_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today) as server:
        yield server


def wrap_body(env: etree._Element) -> None:
    """Signature wrapping: the signed Body hidden in the Security header, a new one in its place."""
    body = env.find(f"{S}Body")
    security = env.find(f"{S}Header/{W}Security")
    security.append(copy.deepcopy(body))
    fresh = etree.fromstring(aanlevering_body(bsn="100023757"))
    body.remove(body[0])
    body.append(fresh)
    del body.attrib[WSU_ID]


def duplicate_id(env: etree._Element) -> None:
    """A second element carrying the Body's Id: a reference must resolve to one element."""
    body = env.find(f"{S}Body")
    extra = etree.SubElement(env.find(f"{S}Header/{W}Security"), f"{W}Other")
    extra.set(WSU_ID, body.get(WSU_ID))


def drop_key_info(env: etree._Element) -> None:
    key_info = env.find(".//{http://www.w3.org/2000/09/xmldsig#}KeyInfo")
    key_info.getparent().remove(key_info)


@pytest.mark.parametrize("edit, check", [
    (wrap_body, "part_not_signed Body"),
    (duplicate_id, "reference_unresolved"),
    (drop_key_info, "token_invalid"),
], ids=["wrapping", "duplicate-id", "no-key-info"])
def test_structure_attacks_are_ek0031(edit, check: str, sim: SimulatorServer,
                                      pki_dir: Path) -> None:
    control(sim, "reset", {})
    answer = post(sim, pki_dir, Raw(after_signing=edit))
    assert answer.faultcode == "soapenv:Client.EK0031"
    assert check.encode() in answer.text
    assert control(sim, "ledger") == {}
