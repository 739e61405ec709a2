"""zeep's private binding API, as :mod:`adapter.duo.binding` uses it.

These tests fail first when a zeep release changes what the adapter relies on
(``setup.cfg`` bounds zeep for the same reason): the names, their parameters, and
a request and a reply through them.
"""

from __future__ import annotations

import inspect
import re
import uuid
from dataclasses import dataclass, field

import pytest
import zeep
import zeep.exceptions
from lxml import etree
from zeep.proxy import ServiceProxy
from zeep.wsdl.bindings.soap import SoapBinding as ZeepSoapBinding

from adapter.duo import contract
from adapter.duo.binding import SoapBinding
from adapter.duo.mapping import bedrijfsdocument, melding_fields

from .test_schema_check import _variants

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


# ---- requests by plan, byte for byte zeep's ----------------------------------------------

_MESSAGE_ID = re.compile(rb"urn:uuid:[0-9a-f-]{36}")
STAMP = "2026-03-16T09:00:00Z"


def _document() -> dict[str, str]:
    return bedrijfsdocument(str(uuid.uuid4()), "00AA", contract.DUO_INSTANTIE)


def _requests() -> list[tuple[str, dict[str, object]]]:
    """Values for every operation of the WSDL: each report shape of the schema check's
    test (valid and not), and the other operations with and without their optional
    fields, and some that do not fit."""
    out: list[tuple[str, dict[str, object]]] = []
    for n, m in enumerate(_variants()):
        out.append((contract.AANLEVEREN, {**_document(), **melding_fields(m)}))
        if n % 10 == 0:
            out.append((contract.WIJZIGEN, {**_document(), "meldingsnummer": "17",
                                            "datumTijdLaatsteMutatie": STAMP,
                                            **melding_fields(m)}))
    out += [
        (contract.WIJZIGEN, {**_document(), "meldingsnummer": "17"}),     # no report: refused
        (contract.INTREKKEN, {**_document(), "meldingsnummer": "17", "brin": "00AA"}),
        (contract.INTREKKEN, {**_document(), "meldingsnummer": "17", "brin": "00AA",
                              "datumTijdLaatsteMutatie": STAMP}),
        (contract.OPVRAGEN, {**_document(), "brin": "00AA", "meldingsnummer": "100001"}),
        (contract.OPVRAGEN, {**_document(), "brin": "00AA",
                             "identificatiecodeBedrijfsdocumentMutatie": str(uuid.uuid4())}),
        (contract.OPVRAGEN_GEWIJZIGD, {**_document(), "brin": "00AA"}),
        (contract.OPVRAGEN_GEWIJZIGD, {**_document(), "brin": "00AA", "selectiemoment": STAMP}),
        (contract.AANLEVEREN_BIJLAGE, {**_document(), "meldingsnummer": "17", "brin": "00AA",
                                       "bestandsnaam": "brief.pdf",
                                       "mimeType": "application/pdf",
                                       "inhoud": b"%PDF-1.4 \x00\xff test"}),
        (contract.OPVRAGEN, {**_document(), "brin": "00AA", "onbekend": "1"}),   # unknown field
        (contract.INTREKKEN, {"meldingsnummer": "17"}),                  # required ones missing
    ]
    return out


def test_every_request_built_by_plan_is_zeeps_byte_for_byte(binding: SoapBinding) -> None:
    """``request`` builds the envelope from the plans of zeep's own definitions; for every
    operation and every shape of values it is what zeep's ``_create`` builds (but for the
    random ``wsa:MessageID``), with the same HTTP headers, and where zeep refuses the
    values the plan refuses them too."""
    zeep_binding, options = binding._service._binding, binding._service._binding_options
    built = refused = 0
    operations = set()
    for operation, values in _requests():
        try:
            expected, expected_headers = zeep_binding._create(
                operation, (), values, client=binding._client, options=options)
        except (zeep.exceptions.Error, TypeError, ValueError):
            refused += 1
            with pytest.raises((zeep.exceptions.Error, TypeError, ValueError)):
                binding.request(operation, values)
            continue
        envelope, headers = binding.request(operation, values)
        assert (_MESSAGE_ID.sub(b"ID", etree.tostring(envelope))
                == _MESSAGE_ID.sub(b"ID", etree.tostring(expected)))
        assert headers == dict(expected_headers)
        built += 1
        operations.add(operation)
    assert operations == set(contract.OPERATIONS)
    assert built > 100 and 4 <= refused < 30


def test_a_client_with_zeep_plugins_is_left_to_zeep() -> None:
    """Anything that would change zeep's envelope (here a plugin) makes zeep build it."""
    class Marker(zeep.Plugin):
        def egress(self, envelope, http_headers, operation, binding_options):
            http_headers["X-Marker"] = "1"
            return envelope, http_headers

    client = zeep.Client(str(contract.WSDL_PATH), plugins=[Marker()], settings=zeep.Settings(
        strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True))
    planned = SoapBinding(client, BINDING, URL)
    _, headers = planned.request(contract.OPVRAGEN, {**_document(), "brin": "00AA",
                                                     "meldingsnummer": "1"})
    assert headers["X-Marker"] == "1"
