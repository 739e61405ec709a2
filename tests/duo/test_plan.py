"""zeep's definitions as plans (adapter.duo.plan): the replies read by plan (feedback pages
and every other operation's) give exactly the values zeep's own parse gives, for real
replies of the simulator."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import zeep
from lxml import etree

from adapter.duo import contract
from adapter.duo.binding import SoapBinding
from adapter.duo.client import DuoClient
from adapter.errors import DuoRejected, StaleStamp
from adapter.simulator.server import SimulatorServer
from adapter.store.api import ExchangeRecord

from .conftest import BRIN, control, fixed_today, melding, valid_bsn

OFFICER = {"naam": "J. Jansen", "telefoonnummer": "0900-1111111",
           "emailadres": "lpa@gemeente.example.org", "organisatie": "Gemeente Voorbeeld"}


def _binding() -> SoapBinding:
    client = zeep.Client(str(contract.WSDL_PATH), settings=zeep.Settings(
        strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True))
    return SoapBinding(client, f"{{{contract.CONTRACT_NS}}}Verzuim_V1_Binding",
                       "https://duo.test/verzuim/v1")


def _plain(value: Any) -> Any:
    """zeep's objects and the plan's namespaces, as plain dicts and lists."""
    if isinstance(value, SimpleNamespace):
        value = vars(value)
    elif hasattr(value, "__values__"):
        value = zeep.helpers.serialize_object(value, dict)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_feedback_pages_read_by_plan_are_what_zeep_parses(
        pki_dir: Any, make_client: Callable[..., DuoClient],
        exchanges: list[ExchangeRecord]) -> None:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today, page_size=3) as sim:
        client = make_client(url=sim.soap_url)
        numbers = [client.aanleveren(melding(bsn=valid_bsn(n)),
                                     document_id=str(uuid.uuid4())).meldingsnummer
                   for n in range(4)]
        control(sim, f"meldingen/{numbers[0]}/status", {"status": "B", "behandelaar": OFFICER})
        control(sim, f"meldingen/{numbers[1]}/status",
                {"status": "G", "reden": "GS", "toelichting": "Gesprek gevoerd"})
        since = None
        pages = 0
        while True:
            page = client.opvragen_gewijzigd(brin=BRIN, since=since)
            pages += 1
            if not page.more:
                break
            since = page.next_since
    replies = [e.response_xml for e in exchanges
               if e.operation == contract.OPVRAGEN_GEWIJZIGD and e.response_xml]
    assert len(replies) == pages >= 2
    binding = _binding()
    items: list[Any] = []
    for content in replies:
        zeep_result = binding.reply(contract.OPVRAGEN_GEWIJZIGD, SimpleNamespace(
            status_code=200, content=content,
            headers={"Content-Type": "text/xml; charset=utf-8"}))
        body = etree.fromstring(content).find(f"{{{contract.SOAP11_NS}}}Body")[0]
        by_plan = binding.read(contract.OPVRAGEN_GEWIJZIGD, body)
        assert _plain(by_plan) == _plain(zeep_result)
        items += by_plan.verzuimmelding
    # Each report once, at its latest status: the officer's contact, a reason, none.
    assert sorted(i.status for i in items) == ["B", "G", "R", "R"]
    assert {i.status: i.behandelaar is not None for i in items}["B"]
    assert [i.reden for i in items if i.status == "G"] == ["GS"]


HEAD = ("<v:identificatiecodeBedrijfsdocument>x</v:identificatiecodeBedrijfsdocument>"
        "<v:verzendendeInstantie>a</v:verzendendeInstantie>"
        "<v:ontvangendeInstantie>b</v:ontvangendeInstantie>"
        "<v:datumTijdBedrijfsdocument>2026-01-01T00:00:00Z</v:datumTijdBedrijfsdocument>")
OK = "<v:leveringGoedgekeurd>true</v:leveringGoedgekeurd>"


@pytest.mark.parametrize(("inner", "refused"), [
    (HEAD + OK, False),
    (HEAD, False),                                  # a required one missing: None, as zeep
    (HEAD + OK + OK, True),                         # more often than maxOccurs
    (OK + HEAD, True),                              # out of the schema's order
    (HEAD + OK + "<v:onbekend>1</v:onbekend>", True),   # not in the schema
])
def test_malformed_pages_are_refused_where_zeep_refuses_them(inner: str, refused: bool) -> None:
    binding = _binding()
    content = (f'<s:Envelope xmlns:s="{contract.SOAP11_NS}"><s:Body>'
               f'<v:opvragenGewijzigdeVerzuimmeldingen_Response xmlns:v="{contract.SCHEMA_NS}">'
               f"{inner}</v:opvragenGewijzigdeVerzuimmeldingen_Response></s:Body></s:Envelope>"
               ).encode()
    body = etree.fromstring(content).find(f"{{{contract.SOAP11_NS}}}Body")[0]
    reply = SimpleNamespace(status_code=200, content=content,
                            headers={"Content-Type": "text/xml; charset=utf-8"})
    if refused:
        with pytest.raises(zeep.exceptions.XMLParseError):
            binding.reply(contract.OPVRAGEN_GEWIJZIGD, reply)
        with pytest.raises(ValueError):
            binding.read(contract.OPVRAGEN_GEWIJZIGD, body)
    else:
        assert _plain(binding.read(contract.OPVRAGEN_GEWIJZIGD, body)) == _plain(
            binding.reply(contract.OPVRAGEN_GEWIJZIGD, reply))


def test_every_reply_read_by_plan_is_what_zeep_parses(
        pki_dir: Any, make_client: Callable[..., DuoClient],
        exchanges: list[ExchangeRecord]) -> None:
    """The client reads every fault-free reply by plan (``SoapBinding.read``): for a real
    reply of the simulator to each operation (approved and refused, found and not) the
    values are exactly what zeep's own parse gives."""
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today, page_size=3) as sim:
        client = make_client(url=sim.soap_url)
        first = client.aanleveren(melding(), document_id=str(uuid.uuid4()))
        with pytest.raises(DuoRejected):           # refused: foutmeldingen in the reply
            client.aanleveren(melding(bsn=valid_bsn(1), begindatum=fixed_today()
                                      + timedelta(days=3), einddatum=None, verzuimdagen=()),
                              document_id=str(uuid.uuid4()))
        changed = client.wijzigen(melding(), meldingsnummer=first.meldingsnummer,
                                  document_id=str(uuid.uuid4()),
                                  laatste_mutatie=first.laatste_mutatie)
        with pytest.raises(StaleStamp):
            client.wijzigen(melding(), meldingsnummer=first.meldingsnummer,
                            document_id=str(uuid.uuid4()), laatste_mutatie=first.laatste_mutatie)
        assert client.aanleveren_bijlage(brin=BRIN, meldingsnummer=first.meldingsnummer,
                                         bestandsnaam="brief.pdf", mime_type="application/pdf",
                                         inhoud=b"%PDF-1.4 test", document_id=str(uuid.uuid4()))
        assert client.opvragen(brin=BRIN, meldingsnummer=first.meldingsnummer) is not None
        assert client.opvragen(brin=BRIN, document_id=str(uuid.uuid4())) is None
        client.opvragen_gewijzigd(brin=BRIN, since=None)
        client.intrekken(melding(), meldingsnummer=first.meldingsnummer,
                         document_id=str(uuid.uuid4()), laatste_mutatie=changed.laatste_mutatie)
    binding = _binding()
    compared = set()
    for exchange in exchanges:
        assert exchange.http_status == 200 and exchange.response_xml
        zeep_result = binding.reply(exchange.operation, SimpleNamespace(
            status_code=200, content=exchange.response_xml,
            headers={"Content-Type": "text/xml; charset=utf-8"}))
        body = etree.fromstring(exchange.response_xml).find(f"{{{contract.SOAP11_NS}}}Body")[0]
        assert _plain(binding.read(exchange.operation, body)) == _plain(zeep_result)
        compared.add(exchange.operation)
    assert compared == set(contract.OPERATIONS)
    with pytest.raises(ValueError):                 # another operation's response element
        binding.read(contract.AANLEVEREN, body)
