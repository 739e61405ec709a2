"""DuoClient against the real simulator over two-way TLS: the functional paths."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from lxml import etree

from adapter.domain.model import Status, Verzuimsoort
from adapter.duo import contract
from adapter.duo.client import DuoClient
from adapter.errors import DuoRejected, DuplicateDocument, StaleStamp
from adapter.simulator.server import SimulatorServer
from adapter.store.api import ExchangeRecord

from .conftest import BRIN, BSN, OLD_BSN, TODAY, control, fixed_today, melding, valid_bsn

OFFICER = {"naam": "J. Jansen", "telefoonnummer": "0900-1111111",
           "emailadres": "lpa@gemeente.example.org", "organisatie": "Gemeente Voorbeeld"}


def new_id() -> str:
    return str(uuid.uuid4())


def test_round_trip_register_lookup_and_feedback_once(
        client: DuoClient, simulator: SimulatorServer, exchanges: list[ExchangeRecord]) -> None:
    doc = new_id()
    result = client.aanleveren(melding(), document_id=doc)
    assert result.status is Status.R
    assert result.meldingsnummer == "100001"
    assert control(simulator, "ledger") == {doc: 1}
    [held] = control(simulator, "meldingen")
    assert held["document_id"] == doc and held["verzuimsoort"] == "V3"
    assert [d["datum"] for d in held["melding"]["verzuimdagen"]] == [
        (TODAY - timedelta(days=20)).isoformat(),
        (TODAY - timedelta(days=19)).isoformat()]
    assert held["melding"]["verzuimdagen"][1]["lesuren"] == [1, 2, 3]

    by_doc = client.opvragen(brin=BRIN, document_id=doc)
    by_nr = client.opvragen(brin=BRIN, meldingsnummer=result.meldingsnummer)
    assert by_doc == by_nr
    assert by_doc is not None and by_doc.identificatiecode_bedrijfsdocument == doc
    assert by_doc.laatste_mutatie == result.laatste_mutatie

    first = client.opvragen_gewijzigd(brin=BRIN, since=None)
    assert [t.meldingsnummer for t in first.items] == ["100001"] and not first.more

    control(simulator, f"meldingen/{result.meldingsnummer}/status",
            {"status": "B", "behandelaar": OFFICER})
    page = client.opvragen_gewijzigd(brin=BRIN, since=first.next_since)
    assert len(page.items) == 1
    item = page.items[0]
    assert item.status is Status.B
    assert dataclasses.asdict(item.behandelaar) == OFFICER
    assert item.laatste_mutatie > result.laatste_mutatie
    again = client.opvragen_gewijzigd(brin=BRIN, since=page.next_since)
    assert again.items == []

    control(simulator, f"meldingen/{result.meldingsnummer}/status",
            {"status": "G", "reden": "GS", "toelichting": "Gesprek gevoerd"})
    closed = client.opvragen_gewijzigd(brin=BRIN, since=again.next_since)
    assert [(t.status, t.reden, t.toelichting) for t in closed.items] == [
        (Status.G, "GS", "Gesprek gevoerd")]
    assert closed.items[0].behandelaar.naam == OFFICER["naam"]   # kept from B

    # Every exchange went to the sink with both XML documents.
    assert [e.operation for e in exchanges][:2] == [contract.AANLEVEREN, contract.OPVRAGEN]
    assert all(e.outcome == "ok" and e.http_status == 200 and e.response_xml
               for e in exchanges)
    assert exchanges[0].document_id == doc


def test_request_carries_each_wsa_header_once_with_oins(
        client: DuoClient, exchanges: list[ExchangeRecord]) -> None:
    client.aanleveren(melding(), document_id=new_id())
    env = etree.fromstring(exchanges[0].request_xml)
    header = env.find(f"{{{contract.SOAP11_NS}}}Header")
    names = [etree.QName(el).localname for el in header]
    assert names[0] == "Security"                       # first: processed before its uses
    assert sorted(names[1:]) == ["Action", "From", "MessageID", "To"]
    w = f"{{{contract.WSA_NS}}}"
    assert header.findtext(f"{w}To") == contract.anonymous_address("00000001800866472000")
    assert header.findtext(f"{w}From/{w}Address") == contract.anonymous_address(
        "00000099000000000001")
    assert header.findtext(f"{w}Action") == contract.soap_action(contract.AANLEVEREN)
    assert contract.MESSAGE_ID_RE.match(header.findtext(f"{w}MessageID"))
    assert exchanges[0].message_id == header.findtext(f"{w}MessageID")
    # Empty optional elements are omitted, never sent empty.
    body = env.find(f"{{{contract.SOAP11_NS}}}Body")[0]
    assert body.find(f"{{{contract.SCHEMA_NS}}}toelichting") is None
    assert all((el.text or "").strip() or len(el) for el in body.iter())


def test_too_old_student_from_rod_is_rejected_with_a_code(
        client: DuoClient, simulator: SimulatorServer) -> None:
    control(simulator, "rod", {"students": [{"bsn": OLD_BSN, "geboortedatum": "1990-01-01"}]})
    with pytest.raises(DuoRejected) as info:
        client.aanleveren(melding(bsn=OLD_BSN, soort=Verzuimsoort.V3), document_id=new_id())
    codes = [code for code, _ in info.value.errors]
    assert "VZ007" in codes
    assert OLD_BSN not in str(info.value) and "1990" not in str(info.value)
    assert control(simulator, "ledger") == {}


def test_request_birth_date_wins_over_rod(client: DuoClient, simulator: SimulatorServer) -> None:
    control(simulator, "rod", {"students": [{"bsn": BSN, "geboortedatum": "1990-01-01"}]})
    birth = TODAY - timedelta(days=16 * 366)
    young = melding(student=dataclasses.replace(melding().student, geboortedatum=birth))
    assert client.aanleveren(young, document_id=new_id()).status is Status.R


def test_duplicate_document_id_is_not_registered_again(
        client: DuoClient, simulator: SimulatorServer, exchanges: list[ExchangeRecord]) -> None:
    doc = new_id()
    client.aanleveren(melding(), document_id=doc)
    with pytest.raises(DuplicateDocument):
        client.aanleveren(melding(), document_id=doc)
    assert control(simulator, "ledger") == {doc: 1}
    assert len(control(simulator, "meldingen")) == 1
    assert exchanges[-1].outcome == "duplicate"


def test_unknown_report_is_none(client: DuoClient) -> None:
    assert client.opvragen(brin=BRIN, document_id=new_id()) is None
    assert client.opvragen(brin=BRIN, meldingsnummer="999999") is None


def test_other_brin_cannot_see_or_change_a_report(client: DuoClient) -> None:
    nr = client.aanleveren(melding(), document_id=new_id()).meldingsnummer
    assert client.opvragen(brin="99ZZ", meldingsnummer=nr) is None
    with pytest.raises(DuoRejected) as info:
        client.intrekken(melding(brin="99ZZ"), meldingsnummer=nr, document_id=new_id())
    assert info.value.errors[0][0] == "VZ901"


def test_wijzigen_then_intrekken_then_no_more_changes(
        client: DuoClient, simulator: SimulatorServer) -> None:
    first = client.aanleveren(melding(soort=Verzuimsoort.LRV, einddatum=None),
                              document_id=new_id())
    end = TODAY - timedelta(days=1)
    changed = client.wijzigen(melding(soort=Verzuimsoort.LRV, einddatum=end),
                              meldingsnummer=first.meldingsnummer, document_id=new_id(),
                              laatste_mutatie=first.laatste_mutatie)
    assert changed.laatste_mutatie > first.laatste_mutatie
    assert control(simulator, "meldingen")[0]["melding"]["einddatum"] == end.isoformat()
    with pytest.raises(StaleStamp) as stale:        # optimistic concurrency stamp
        client.wijzigen(melding(soort=Verzuimsoort.LRV, einddatum=end),
                        meldingsnummer=first.meldingsnummer, document_id=new_id(),
                        laatste_mutatie=first.laatste_mutatie)
    assert stale.value.errors[0][0] == "VZ903"
    with pytest.raises(StaleStamp):                 # intrekken carries the stamp too
        client.intrekken(melding(), meldingsnummer=first.meldingsnummer,
                         document_id=new_id(), laatste_mutatie=first.laatste_mutatie)
    with pytest.raises(DuoRejected) as missing:     # the simulator requires it by default
        client.intrekken(melding(), meldingsnummer=first.meldingsnummer, document_id=new_id())
    assert missing.value.errors[0][0] == "VZ904" and not isinstance(missing.value, StaleStamp)
    withdrawn = client.intrekken(melding(), meldingsnummer=first.meldingsnummer,
                                 document_id=new_id(), laatste_mutatie=changed.laatste_mutatie)
    assert withdrawn.status is Status.I
    with pytest.raises(DuoRejected) as closed:
        client.wijzigen(melding(soort=Verzuimsoort.LRV), meldingsnummer=first.meldingsnummer,
                        document_id=new_id())
    assert closed.value.errors[0][0] == "VZ902"
    assert len(control(simulator, "ledger")) == 3


def test_changes_are_paged(pki_dir, make_client: Callable[..., DuoClient]) -> None:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today, page_size=2) as sim:
        client = make_client(url=sim.soap_url)
        for n in range(3):        # three students: one open report per student and period
            client.aanleveren(melding(bsn=valid_bsn(n)), document_id=new_id())
        one = client.opvragen_gewijzigd(brin=BRIN, since=None)
        assert len(one.items) == 2 and one.more
        two = client.opvragen_gewijzigd(brin=BRIN, since=one.next_since)
        assert len(two.items) == 1 and not two.more
        assert {t.meldingsnummer for t in one.items + two.items} == {"100001", "100002",
                                                                    "100003"}


def test_attachment(client: DuoClient, simulator: SimulatorServer) -> None:
    nr = client.aanleveren(melding(), document_id=new_id()).meldingsnummer
    bijlage = client.aanleveren_bijlage(brin=BRIN, meldingsnummer=nr, bestandsnaam="brief.pdf",
                                        mime_type="application/pdf", inhoud=b"%PDF-1.4 test",
                                        document_id=new_id())
    assert bijlage
    assert control(simulator, "meldingen")[0]["bijlagen"][0]["bestandsnaam"] == "brief.pdf"


def test_rule_violations_are_rejected_functionally(client: DuoClient) -> None:
    future = melding(begindatum=TODAY + timedelta(days=3), einddatum=None,
                     verzuimdagen=())
    with pytest.raises(DuoRejected) as info:
        client.aanleveren(future, document_id=new_id())
    assert {"VZ009", "VZ011"} <= {code for code, _ in info.value.errors}


def test_one_client_is_safe_across_threads(client: DuoClient, simulator: SimulatorServer) -> None:
    from concurrent.futures import ThreadPoolExecutor
    docs = [new_id() for _ in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:      # twelve students, twelve reports
        results = list(pool.map(lambda n: client.aanleveren(melding(bsn=valid_bsn(n)),
                                                            document_id=docs[n]), range(12)))
    assert len({r.meldingsnummer for r in results}) == 12
    assert control(simulator, "ledger") == {d: 1 for d in docs}


def test_every_request_and_answer_is_valid_against_our_xsd(
        client: DuoClient, simulator: SimulatorServer, exchanges: list[ExchangeRecord]) -> None:
    doc = new_id()
    nr = client.aanleveren(melding(), document_id=doc).meldingsnummer
    control(simulator, f"meldingen/{nr}/status", {"status": "B", "behandelaar": OFFICER})
    client.opvragen(brin=BRIN, meldingsnummer=nr)
    client.opvragen_gewijzigd(brin=BRIN, since=None)
    with pytest.raises(DuplicateDocument):
        client.aanleveren(melding(), document_id=doc)
    schema = etree.XMLSchema(etree.parse(str(contract.XSD_PATH)))
    assert len(exchanges) == 4
    for exchange in exchanges:
        for xml in (exchange.request_xml, exchange.response_xml):
            body = etree.fromstring(xml).find(f"{{{contract.SOAP11_NS}}}Body")[0]
            assert schema.validate(body), schema.error_log
