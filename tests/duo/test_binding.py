"""zeep's private binding API, as :mod:`adapter.duo.binding` uses it.

These tests fail first when a zeep release changes what the adapter relies on
(``setup.cfg`` bounds zeep for the same reason): the names, their parameters, and
a request and a reply through them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import pytest
import zeep
import zeep.exceptions
from zeep.proxy import ServiceProxy
from zeep.wsdl.bindings.soap import SoapBinding as ZeepSoapBinding

from adapter.duo import contract
from adapter.duo.binding import SoapBinding
from adapter.duo.mapping import bedrijfsdocument

BINDING = f"{{{contract.CONTRACT_NS}}}Verzuim_V1_Binding"
URL = "https://duo.test/verzuim/v1"
S, VZ = contract.SOAP11_NS, contract.SCHEMA_NS


@dataclass
class Reply:
    """What ``process_reply`` reads of a ``requests.Response``."""

    content: bytes
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {
        "Content-Type": "text/xml; charset=utf-8"})
    encoding: str = "utf-8"


@pytest.fixture(scope="module")
def binding() -> SoapBinding:
    client = zeep.Client(str(contract.WSDL_PATH), settings=zeep.Settings(
        strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True))
    return SoapBinding(client, BINDING, URL)


def test_the_private_names_are_still_there() -> None:
    assigned = ServiceProxy.__init__.__code__.co_names     # attributes set in __init__
    assert {"_binding", "_binding_options"} <= set(assigned)
    assert list(inspect.signature(ZeepSoapBinding._create).parameters) == [
        "self", "operation", "args", "kwargs", "client", "options"]
    assert list(inspect.signature(ZeepSoapBinding.process_reply).parameters) == [
        "self", "client", "operation", "response"]
    assert callable(ZeepSoapBinding.get)


def test_request_is_an_envelope_with_the_soap_action(binding: SoapBinding) -> None:
    values = {**bedrijfsdocument("00000000-0000-4000-8000-000000000001", "00AA", "DUO"),
              "brin": "00AA", "meldingsnummer": "100001"}
    envelope, headers = binding.request(contract.OPVRAGEN, values)
    body = envelope.find(f"{{{S}}}Body")
    assert body is not None and body[0].tag == f"{{{VZ}}}{contract.OPVRAGEN}_Request"
    assert body[0].findtext(f"{{{VZ}}}meldingsnummer") == "100001"
    assert contract.OPVRAGEN in headers["SOAPAction"]


def test_request_that_does_not_fit_the_schema_is_refused(binding: SoapBinding) -> None:
    with pytest.raises((zeep.exceptions.Error, TypeError, ValueError)):
        binding.request(contract.OPVRAGEN, {"no_such_field": "x"})


def test_reply_is_read_into_the_result_object(binding: SoapBinding) -> None:
    xml = f"""<?xml version='1.0' encoding='utf-8'?>
<s:Envelope xmlns:s="{S}"><s:Body><vz:{contract.OPVRAGEN}_Response xmlns:vz="{VZ}">
  <vz:identificatiecodeBedrijfsdocument>00000000-0000-4000-8000-000000000002</vz:identificatiecodeBedrijfsdocument>
  <vz:verzendendeInstantie>DUO</vz:verzendendeInstantie>
  <vz:ontvangendeInstantie>00AA</vz:ontvangendeInstantie>
  <vz:datumTijdBedrijfsdocument>2026-03-16T09:00:00Z</vz:datumTijdBedrijfsdocument>
  <vz:leveringGoedgekeurd>true</vz:leveringGoedgekeurd>
</vz:{contract.OPVRAGEN}_Response></s:Body></s:Envelope>""".encode()
    result = binding.reply(contract.OPVRAGEN, Reply(xml))
    assert result.leveringGoedgekeurd is True and result.verzuimmelding is None


def test_a_fault_reply_raises_zeeps_fault(binding: SoapBinding) -> None:
    xml = f"""<s:Envelope xmlns:s="{S}"><s:Body><s:Fault>
  <faultcode>s:Client.DK0004</faultcode><faultstring>schema</faultstring>
</s:Fault></s:Body></s:Envelope>""".encode()
    with pytest.raises(zeep.exceptions.Fault) as info:
        binding.reply(contract.OPVRAGEN, Reply(xml, status_code=500))
    assert "DK0004" in str(info.value.code)
