"""DUO's schema before send: what the simulator would refuse with DK0004, found first."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import date

import pytest
import zeep
from lxml import etree

from adapter.domain.model import Melder, Student, Verzuimdag, Verzuimsoort
from adapter.domain.rules import ADAPTER_RULES, check_melding
from adapter.duo import contract
from adapter.duo.binding import SoapBinding
from adapter.duo.client import DuoClient
from adapter.duo.mapping import bedrijfsdocument, melding_fields
from adapter.duo.schema_check import (
    SCHEMA_CODES,
    check_schema,
    field_path,
    request_element,
    zeep_request_element,
)
from adapter.errors import DuoRejected
from adapter.simulator.server import SimulatorServer

from .conftest import TODAY, control, melding

PHONE = "06-12ab5678"
LONG = "Lange toelichting over de gewenste actie. " * 36   # 1,512 characters


def lettered_phone_and_long_text():
    m = melding()
    return replace(m, melder=replace(m.melder, telefoonnummer=PHONE),
                   toelichting_actie_gewenst=LONG)


def test_a_valid_report_fits_the_schema() -> None:
    assert check_schema(melding()) == []


def test_lettered_phone_and_long_text_are_named_by_field_rule_and_code() -> None:
    m = lettered_phone_and_long_text()
    assert len(LONG) > 1000
    assert check_melding(m, today=TODAY) == []      # DUO's business rules let it pass
    found = check_schema(m)
    assert [(v.field, v.code) for v in found] == [
        ("toelichting_actie_gewenst", "AD002"), ("melder.telefoonnummer", "AD001")]
    assert all(v.rule == ADAPTER_RULES[v.code] for v in found)
    assert PHONE not in str(found) and "Lange" not in str(found)


@pytest.mark.parametrize(("changes", "field", "code"), [
    ({"vervolg_op": "VM-1"}, "vervolg_op", "AD001"),              # pattern [1-9][0-9]{0,11}
    ({"onderwijslocatiecode": "12a"}, "onderwijslocatiecode", "AD001"),
    ({"toelichting_actie_ondernomen": "x" * 1001}, "toelichting_actie_ondernomen", "AD002"),
    ({"verzuimsoort": Verzuimsoort.V1}, "verzuimsoort", "AD005"),  # legacy: not in the enum
])
def test_each_malformed_field_is_named(changes, field, code) -> None:
    assert [(v.field, v.code) for v in check_schema(melding(**changes))] == [(field, code)]


def test_paths_inside_the_verzuimdagspecificatie() -> None:
    m = melding(verzuimdagen=(Verzuimdag(TODAY.replace(day=1), hele_dag=True),
                              Verzuimdag(TODAY.replace(day=2), lesuren=(2, 13))))
    assert [(v.field, v.code) for v in check_schema(m)] == [("verzuimdagen[1].lesuren", "AD004")]
    assert field_path("/vz:aanleverenVerzuimmelding_Request/vz:verzuimdag[2]/vz:lesuur[3]") == \
        "verzuimdagen[1].lesuren"
    assert field_path("/vz:aanleverenVerzuimmelding_Request/vz:onderwijsdeelnemer/"
                      "vz:burgerservicenummer") == "student.bsn"
    assert field_path("/vz:aanleverenVerzuimmelding_Request") == "melding"
    assert field_path(None) == "melding"


def test_every_schema_code_is_an_adapter_code() -> None:
    assert set(SCHEMA_CODES) <= set(ADAPTER_RULES)
    assert all(code < "AD020" for code in SCHEMA_CODES)


def test_the_body_is_the_one_the_client_sends() -> None:
    """The checked element is byte for byte the Body element of the client's envelope
    (same zeep element, same values) apart from the Bedrijfsdocument block."""
    client = zeep.Client(str(contract.WSDL_PATH), settings=zeep.Settings(
        strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True))
    binding = SoapBinding(client, f"{{{contract.CONTRACT_NS}}}Verzuim_V1_Binding",
                          "https://duo.test/verzuim/v1")
    m = lettered_phone_and_long_text()
    envelope, _ = binding.request(contract.AANLEVEREN, {
        **bedrijfsdocument(None, "sender", "DUO"), **melding_fields(m)})
    sent = envelope.find(f"{{{contract.SOAP11_NS}}}Body")[0]
    checked = request_element(m)

    def melding_part(el: etree._Element) -> list[bytes]:
        return [etree.tostring(child, method="c14n", exclusive=True) for child in el][4:]

    assert melding_part(sent) == melding_part(checked)


def test_the_simulator_refuses_what_the_check_refuses(client: DuoClient,
                                                      simulator: SimulatorServer) -> None:
    """The behaviour this check prevents: sent anyway, DUO answers DK0004."""
    m = lettered_phone_and_long_text()
    assert check_schema(m)
    with pytest.raises(DuoRejected) as info:
        client.aanleveren(m, document_id=str(uuid.uuid4()))
    assert [code for code, _ in info.value.errors] == ["DK0004"]
    assert control(simulator, "ledger") == {}


def test_gemeentecode_is_never_sent_and_leaves_the_schema_check_alone() -> None:
    """``student.gemeentecode`` selects a regional agreement; DUO's message has no place
    for it: the mapped fields and the request are those of the report without it."""
    m = melding()
    with_code = replace(m, student=replace(m.student, gemeentecode="0307"))
    assert melding_fields(with_code) == melding_fields(m)
    assert etree.tostring(request_element(with_code)) == etree.tostring(request_element(m))
    assert check_schema(with_code) == check_schema(m) == []


def _variants() -> list:
    """Reports of every shape the Melding group can take, valid and not: each optional
    field present and absent, both student identifiers, whole days and lesson hours
    (also too many and out of range), text too long, a pattern broken, a required
    field missing."""
    rng = random.Random(20261206)
    base = melding()
    out = [base]
    for n in range(120):
        dagen = tuple(
            Verzuimdag(TODAY.replace(day=d + 1), hele_dag=True) if rng.random() < 0.4 else
            Verzuimdag(TODAY.replace(day=d + 1),
                       lesuren=tuple(rng.sample(range(0, 15), rng.randint(0, 13))))
            for d in range(rng.randint(0, 4)))
        student = (Student(bsn=f"{rng.randrange(10**9):09d}",
                           geboortedatum=date(2010, 1, 1) if n % 3 else None)
                   if n % 4 else Student(onderwijsnummer=f"{rng.randrange(10**9):09d}"))
        melder = Melder(naam="M" * rng.choice((5, 100, 101)),
                        emailadres=rng.choice(("a@b.example", "geen-adres")),
                        functie=rng.choice((None, "mentor")),
                        telefoonnummer=rng.choice((None, "0612345678", PHONE)))
        optional = {key: (value if rng.random() < 0.5 else None) for key, value in {
            "onderwijslocatiecode": rng.choice(("01", "12a")),
            "toelichting": "t" * rng.choice((10, 1001)),
            "actie_ondernomen": rng.random() < 0.5,
            "toelichting_actie_ondernomen": "ondernomen",
            "toelichting_actie_gewenst": "gewenst",
            "alle_lessen_gemist": rng.random() < 0.5,
            "vervolg_op": rng.choice(("17", "VM-1")),
            "einddatum": TODAY,
        }.items()}
        out.append(replace(base, student=student, melder=melder, verzuimdagen=dagen,
                           verzuimsoort=rng.choice(list(Verzuimsoort)),
                           vermoedelijke_reden="r" * rng.choice((1, 200, 201)), **optional))
    out.append(replace(base, vermoedelijke_reden=None))     # required, missing
    return out


def test_the_checked_element_is_the_one_zeep_renders_for_every_shape() -> None:
    """``request_element`` renders from zeep's own element definitions without zeep's
    objects; for every shape of report it is byte for byte what zeep renders, and where
    zeep refuses to render, it refuses too (both: AD006 on the whole report)."""
    refused = 0
    for m in _variants():
        try:
            expected = etree.tostring(zeep_request_element(m))
        except (TypeError, ValueError, zeep.exceptions.Error):
            refused += 1
            with pytest.raises((TypeError, ValueError)):
                request_element(m)
            assert [(v.field, v.code) for v in check_schema(m)] == [("melding", "AD006")]
            continue
        assert etree.tostring(request_element(m)) == expected
    assert 2 <= refused < 20     # too many lesson hours; the missing reden
    assert sum(bool(check_schema(m)) for m in _variants()) > 60   # many shapes break it
