"""from_duo: every event kind as an Eduarte-style CSV file."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from adapter.domain.model import OutboundEvent, Status
from verzuim_eduarte.schema import (FAILED_HEADER, OTHER_HEADER, REGISTERED_HEADER,
                                    REJECTED_HEADER, TERUGMELDING_HEADER)

CREATED = datetime(2025, 10, 28, 8, 0, 5, tzinfo=timezone.utc)
REPORT = {"verzuimsoort": "V3", "begindatum": "2025-10-13", "einddatum": "2025-10-27",
          "leerlingnummer": "731201",
          "registratie_ids": ["WN-7310001@2025-10-13", "AM-7310010@2025-10-14"]}


def _event(kind: str, data: dict, source_id: str | None = "VM-2025-0101") -> OutboundEvent:
    return OutboundEvent(message_id=f"m-{kind}", vendor="eduarte", brin="00AA", event=kind,
                         source_id=source_id, data=data, created_at=CREATED)


def _read(vendor, event: OutboundEvent) -> list[dict[str, str]]:
    body, content_type = vendor.from_duo(event)
    assert content_type == "text/csv; charset=utf-8"
    assert body.startswith(b"\xef\xbb\xbf") and body.endswith(b"\r\n")
    assert body.count(b"\n") == body.count(b"\r\n")  # CRLF only
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_terugmelding_is_the_section_6_1_file(vendor) -> None:
    data = {**REPORT, "meldingsnummer": "100234", "status": "G", "reden": "Terug op school",
            "toelichting": 'Gesprek gevoerd; "goed" verlopen',
            "behandelaar": {"naam": "Wessel Grutto-Leerplicht", "telefoonnummer": "030 7654321",
                            "emailadres": "w.grutto@gemeente.test", "organisatie": "Gemeente Test"},
            "laatste_mutatie": "2025-11-10T08:15:00Z"}
    body, _ = vendor.from_duo(_event("terugmelding", data))
    assert body.decode("utf-8-sig").split("\r\n", 1)[0] == ";".join(TERUGMELDING_HEADER)
    [row] = _read(vendor, _event("terugmelding", data))
    assert row == {
        "Registratie-ids": "WN-7310001@2025-10-13,AM-7310010@2025-10-14",
        "Deelnemernummer": "731201", "Meldingsnummer DUO": "100234", "Verzuimsoort": "V3",
        "Begindatum": "13-10-2025", "Einddatum": "27-10-2025", "Status": "Afgesloten",
        "Reden afgesloten": "Terug op school", "Toelichting afsluiting": 'Gesprek gevoerd; "goed" verlopen',
        "Contactpersoon naam": "Wessel Grutto-Leerplicht", "Contactpersoon functie": "",
        "Contactpersoon telefoon": "030 7654321", "Contactpersoon e-mail": "w.grutto@gemeente.test",
        "Laatste mutatie": "10-11-2025 09:15:00",  # winter time: UTC+1
        "Contactpersoon organisatie": "Gemeente Test", "Melding-id": "VM-2025-0101"}
    assert b'"Gesprek gevoerd; ""goed"" verlopen"' in body


def test_status_words_and_summer_time(vendor) -> None:
    words = {}
    for letter in ("R", "B", "G", "I", "K"):
        [row] = _read(vendor, _event("terugmelding", {"status": letter,
                                                      "laatste_mutatie": "2025-10-20T08:15:00+00:00"}))
        words[letter] = row["Status"]
        assert row["Laatste mutatie"] == "20-10-2025 10:15:00"  # summer time: UTC+2
    assert words == {"R": "Geregistreerd", "B": "In behandeling", "G": "Afgesloten",
                     "I": "Ingetrokken", "K": "Ter kennisgeving aangenomen"}
    [row] = _read(vendor, _event("terugmelding", {"status": Status.B}))
    assert row["Status"] == "In behandeling"


def test_terugmelding_with_no_optional_keys(vendor) -> None:
    [row] = _read(vendor, _event("terugmelding", {}, source_id=None))
    assert set(row.values()) == {""}


def test_registered(vendor) -> None:
    [row] = _read(vendor, _event("registered", {**REPORT, "meldingsnummer": "100234", "status": "R",
                                                 "business_document_id": "4f1c-uuid",
                                                 "operation": "aanleveren"}))
    assert list(row) == list(REGISTERED_HEADER)
    assert row == {"Melding-id": "VM-2025-0101",
                   "Registratie-ids": "WN-7310001@2025-10-13,AM-7310010@2025-10-14",
                   "Deelnemernummer": "731201", "Meldingsnummer DUO": "100234",
                   "Verzuimsoort": "V3", "Begindatum": "13-10-2025", "Einddatum": "27-10-2025",
                   "Status": "Geregistreerd", "Bewerking": "aanleveren",
                   "Kenmerk bedrijfsdocument": "4f1c-uuid", "Tijdstip": "28-10-2025 09:00:05",
                   "Bestandsnaam": ""}


def test_registered_attachment_names_its_file(vendor) -> None:
    [row] = _read(vendor, _event("registered", {**REPORT, "meldingsnummer": "100234",
                                                 "operation": "aanleverenBijlage",
                                                 "bestandsnaam": "brief.pdf"}))
    assert (row["Bewerking"], row["Bestandsnaam"]) == ("aanleverenBijlage", "brief.pdf")


def test_rejected_one_row_per_error(vendor) -> None:
    data = {"errors": [{"code": "VZ007", "field": "verzuimsoort",
                        "rule": "verzuimsoort is not allowed for the student's age on begindatum",
                        "text": "Leeftijd past niet bij verzuimsoort"},
                       {"code": "VZ009", "field": "einddatum", "rule": "einddatum is required"}],
            "position": "row 7", "operation": "aanleveren"}
    rows = _read(vendor, _event("rejected", data))
    assert list(rows[0]) == list(REJECTED_HEADER)
    assert [(r["Foutcode"], r["Veld"], r["Positie"], r["Fouttekst"]) for r in rows] == [
        ("VZ007", "verzuimsoort", "row 7", "Leeftijd past niet bij verzuimsoort"),
        ("VZ009", "einddatum", "row 7", "")]
    [empty] = _read(vendor, _event("rejected", {"operation": "wijzigen"}))
    assert empty["Bewerking"] == "wijzigen" and empty["Foutcode"] == ""


def test_failed(vendor) -> None:
    [row] = _read(vendor, _event("failed", {"reason": "gave up after retries", "attempts": 8,
                                            "operation": "aanleveren",
                                            "registratie_ids": "AM-1@2025-10-06"}))
    assert list(row) == list(FAILED_HEADER)
    assert (row["Reden"], row["Pogingen"], row["Registratie-ids"]) == (
        "gave up after retries", "8", "AM-1@2025-10-06")


def test_other_event_kinds_are_rendered_as_key_value_rows(vendor) -> None:
    rows = _read(vendor, _event("signaal", {"verzuimsoort": "V3", "dagen": ["2025-10-13"]}))
    assert list(rows[0]) == list(OTHER_HEADER)
    assert [(r["Gebeurtenis"], r["Veld"], r["Waarde"]) for r in rows] == [
        ("signaal", "verzuimsoort", "V3"), ("signaal", "dagen", '["2025-10-13"]')]
