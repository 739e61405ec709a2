"""Feedback in Magister's shape: every event kind, status words, ItemIds, UTC Z."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from adapter.domain.model import OutboundEvent, Status
from verzuim_magister.render import item_ids, utc_z

CONTEXT = {"verzuimsoort": "V3", "begindatum": "2025-10-13", "einddatum": "2025-10-31",
           "leerlingnummer": "40101", "registratie_ids": ["7400102", "7400101", "7400101@x"]}


def event(kind: str, data: dict, source_id: str | None = "880101") -> OutboundEvent:
    return OutboundEvent(message_id=f"{kind}:doc-1", vendor="magister", brin="00AA", event=kind,
                         source_id=source_id, data=data)


def render(vendor, ev: OutboundEvent) -> dict:
    body, content_type = vendor.from_duo(ev)
    assert content_type == "application/json"
    assert isinstance(body, bytes)
    return json.loads(body.decode("utf-8"))


def head(doc: dict) -> dict:
    keys = ["Soort", "BerichtId", "Brin", "MeldingId", "Stamnummer", "ItemIds", "Verzuimsoort",
            "Begindatum", "Einddatum"]
    assert list(doc)[:len(keys)] == keys
    return {k: doc[k] for k in keys}


def test_terugmelding_is_the_section_6_2_object(vendor):
    doc = render(vendor, event("terugmelding", {
        **CONTEXT, "meldingsnummer": "100234", "status": "B", "reden": None, "toelichting": None,
        "behandelaar": {"naam": "Lpa Beukenstein", "telefoonnummer": "0301112233",
                        "emailadres": "lpa@gemeente.test", "organisatie": "Gemeente Testdorp"},
        "laatste_mutatie": "2025-11-10T09:15:00+01:00"}))
    assert head(doc) == {"Soort": "Terugmelding", "BerichtId": "terugmelding:doc-1",
                         "Brin": "00AA", "MeldingId": "880101", "Stamnummer": "40101",
                         "ItemIds": [7400101, 7400102], "Verzuimsoort": "16UUR",
                         "Begindatum": "2025-10-13", "Einddatum": "2025-10-31"}
    assert doc["MeldingsnummerDuo"] == "100234" and doc["Status"] == "InBehandeling"
    assert doc["RedenAfgesloten"] is None and doc["ToelichtingAfsluiting"] is None
    assert doc["Contactpersoon"] == {"Naam": "Lpa Beukenstein", "Functie": None,
                                     "Telefoon": "0301112233", "Email": "lpa@gemeente.test",
                                     "Organisatie": "Gemeente Testdorp"}
    assert doc["LaatsteMutatie"] == "2025-11-10T08:15:00Z"


@pytest.mark.parametrize("status,word", [
    ("R", "Geregistreerd"), ("B", "InBehandeling"), ("G", "Afgesloten"),
    ("K", "TerKennisgevingAangenomen"), ("I", "Ingetrokken"), (Status.G, "Afgesloten")])
def test_status_words(vendor, status, word):
    doc = render(vendor, event("terugmelding", {"status": status, "reden": "T",
                                                "toelichting": "Terug op school"}))
    assert doc["Status"] == word
    assert doc["RedenAfgesloten"] == "T" and doc["ToelichtingAfsluiting"] == "Terug op school"


def test_registered(vendor):
    doc = render(vendor, event("registered", {**CONTEXT, "meldingsnummer": "100235",
                                              "status": "R", "business_document_id": "uuid-1",
                                              "operation": "aanleveren"}))
    assert head(doc)["Soort"] == "Registratie"
    assert {k: doc[k] for k in ("MeldingsnummerDuo", "Status", "Bewerking", "DocumentId")} == {
        "MeldingsnummerDuo": "100235", "Status": "Geregistreerd", "Bewerking": "Aanleveren",
        "DocumentId": "uuid-1"}
    assert (doc["Bestandsnaam"], doc["BijlageId"]) == (None, None)


def test_registered_attachment_names_its_file(vendor):
    doc = render(vendor, event("registered", {**CONTEXT, "meldingsnummer": "100235",
                                              "operation": "aanleverenBijlage",
                                              "bestandsnaam": "brief.pdf", "bijlage_id": "B1"}))
    assert (doc["Bewerking"], doc["Bestandsnaam"], doc["BijlageId"]) == (
        "aanleverenBijlage", "brief.pdf", "B1")


def test_rejected(vendor):
    doc = render(vendor, event("rejected", {
        **CONTEXT, "operation": "aanleveren", "position": "$.Meldingen[0]",
        "errors": [{"code": "VZ007", "field": "verzuimsoort",
                    "rule": "verzuimsoort is not allowed for the student's age on begindatum",
                    "text": "leeftijd"}, {"code": "DUO-1", "text": "afgewezen"}]}))
    assert doc["Soort"] == "Afwijzing" and doc["Bewerking"] == "Aanleveren"
    assert doc["Positie"] == "$.Meldingen[0]"
    assert doc["Fouten"] == [
        {"Code": "VZ007", "Veld": "verzuimsoort",
         "Regel": "verzuimsoort is not allowed for the student's age on begindatum",
         "Tekst": "leeftijd"},
        {"Code": "DUO-1", "Veld": None, "Regel": None, "Tekst": "afgewezen"}]


def test_failed(vendor):
    doc = render(vendor, event("failed", {"reason": "retries exhausted", "attempts": 5,
                                          "operation": "intrekken"}))
    assert (doc["Soort"], doc["Reden"], doc["Pogingen"], doc["Bewerking"]) == (
        "Mislukt", "retries exhausted", 5, "Intrekken")
    assert doc["ItemIds"] == [] and doc["Stamnummer"] is None


@pytest.mark.parametrize("kind", ["registered", "rejected", "terugmelding", "failed", "signaal"])
def test_every_key_is_optional(vendor, kind):
    doc = render(vendor, event(kind, {}, source_id=None))
    assert doc["BerichtId"] == f"{kind}:doc-1" and doc["MeldingId"] is None


def test_signaal_keeps_its_data_pascal_cased(vendor):
    doc = render(vendor, event("signaal", {"drempel_bereikt": True, "uren": 16}))
    assert doc["Soort"] == "Signaal" and doc["DrempelBereikt"] is True and doc["Uren"] == 16


def test_item_ids_and_utc_z_helpers():
    assert item_ids(["12", "3@2025-10-06", "3@2025-10-07", "AM-1"]) == [3, 12, "AM-1"]
    assert item_ids(None) == []
    assert utc_z(datetime(2025, 10, 24, 10, 0, tzinfo=timezone.utc)) == "2025-10-24T10:00:00Z"
    assert utc_z("2025-10-24T12:00:00+02:00") == "2025-10-24T10:00:00Z"   # CEST
    assert utc_z("2025-10-27T12:00:00+01:00") == "2025-10-27T11:00:00Z"   # CET
    assert utc_z("2025-10-27T11:00:00Z") == "2025-10-27T11:00:00Z"
    assert utc_z(None) is None
