"""``incident ID``: DUO's helpdesk template from the stored exchange, no personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from adapter.cli import cli
from adapter.commands.incident import choose_exchange, parse_faults, request_message_id
from adapter.store import ExchangeRecord, IncomingReport, Store
from adapter.testing import make_melding

BSN = make_melding().student.bsn
MSG_ID = "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"
REQUEST = f"""<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:wsa="http://www.w3.org/2005/08/addressing">
 <soap:Header><wsa:MessageID>{MSG_ID}</wsa:MessageID></soap:Header>
 <soap:Body><melding><bsn>{BSN}</bsn><naam>Test Melder</naam>
  <toelichting>Spijbelen (test)</toelichting></melding></soap:Body>
</soap:Envelope>""".encode()
FAULT = b"""<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<soap:Fault><faultcode>soap:Server.DK0051</faultcode><faultstring>Service niet beschikbaar
</faultstring></soap:Fault></soap:Body></soap:Envelope>"""
REJECTED = f"""<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<r xmlns="urn:x"><leveringGoedgekeurd>false</leveringGoedgekeurd>
<foutmelding><foutcode>VZ908</foutcode><fouttekst>leerling {BSN} onbekend in het ROD</fouttekst>
</foutmelding></r></soap:Body></soap:Envelope>""".encode()
EVIL = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<r><foutmelding><foutcode>X1</foutcode><fouttekst>&x;</fouttekst></foutmelding></r>"""


def _exchange(outcome: str, response: bytes | None, status: int | None,
              submission_id: int | None = None) -> ExchangeRecord:
    return ExchangeRecord(operation="aanleverenVerzuimmelding", document_id="doc-1",
                          message_id=MSG_ID, request_xml=REQUEST, response_xml=response,
                          http_status=status, outcome=outcome,
                          started_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC), duration_ms=12,
                          submission_id=submission_id)


def test_parsing_finds_message_id_faults_and_refuses_entities() -> None:
    assert request_message_id(REQUEST) == MSG_ID
    assert parse_faults(FAULT) == [("Server.DK0051", "Service niet beschikbaar")]
    [(code, text)] = parse_faults(REJECTED)
    assert code == "VZ908" and BSN not in text          # redacted as a second net
    assert "root:" not in repr(parse_faults(EVIL))     # the entity is never expanded
    assert parse_faults(None) == [] and parse_faults(b"not xml") == []


def test_choose_exchange_prefers_the_latest_that_went_wrong() -> None:
    ok, bad = _exchange("ok", None, 200), _exchange("transient", FAULT, 503)
    assert choose_exchange([bad, ok]) is bad
    assert choose_exchange([ok]) is ok and choose_exchange([]) is None


def _config(tmp_path: Path, pki_dir: Path) -> tuple[Path, int]:
    db = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{db}")
    store.accept(message_id="m1", vendor="canonical", routing_key="canonical.export",
                 items=[IncomingReport(vendor="canonical", melding=make_melding())])
    [claim] = store.claim_due(limit=1)
    store.record_exchange(_exchange("transient", FAULT, 503, claim.submission_id))
    store.mark_failed(claim.submission_id, reason="gave up: duo_fault Server.DK0051")
    store.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n[duo]\nurl = "https://duo.test/verzuim"\n'
                   f'client_cert = "{pki_dir / "school.pem"}"\n'
                   f'client_key = "{pki_dir / "school-key.pem"}"\n')
    return cfg, claim.report_id


def test_incident_prints_the_template_without_personal_data(tmp_path: Path,
                                                            pki_dir: Path) -> None:
    cfg, report_id = _config(tmp_path, pki_dir)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "incident", str(report_id)])
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in (MSG_ID, "doc-1", "aanleverenVerzuimmelding", "https://duo.test/verzuim",
                     "Server.DK0051: Service niet beschikbaar", "503", "2026-01-05T09:00",
                     "Certificaat (serienummer)", "verzuim-adapter "):
        assert expected in out, expected
    assert "Pogingen:                    1" in out
    for personal in (BSN, "Test Melder", "Spijbelen", "melder@school.test"):
        assert personal not in out
    as_json = CliRunner().invoke(cli, ["--config", str(cfg), "incident", str(report_id),
                                       "--json"])
    info = json.loads(as_json.output[as_json.output.index("{"):])
    assert info["wsa_message_id"] == MSG_ID and info["certificate"]["subject"]


def test_incident_for_unknown_report_or_without_exchanges(tmp_path: Path,
                                                          pki_dir: Path) -> None:
    cfg, _ = _config(tmp_path, pki_dir)
    missing = CliRunner().invoke(cli, ["--config", str(cfg), "incident", "99"])
    assert missing.exit_code == 1 and "no report with id 99" in missing.output
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    store.accept(message_id="m2", vendor="canonical", routing_key="canonical.export",
                 items=[IncomingReport(vendor="canonical",
                                       melding=make_melding(source_id="test-2"))])
    store.close()
    none = CliRunner().invoke(cli, ["--config", str(cfg), "incident", "2"])
    assert none.exit_code == 1 and "no stored exchanges" in none.output
