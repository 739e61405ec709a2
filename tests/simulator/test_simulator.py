"""Simulator behaviour: control API, municipality engine, ROD, serve()."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path

import pytest

from adapter.duo import contract as c
from adapter.errors import ConfigError
from adapter.simulator.server import SimulatorServer

from .conftest import Raw, aanlevering_body, control, post, valid_bsn

ROOT = Path(__file__).resolve().parents[2]


def register(sim: SimulatorServer, pki_dir: Path, bsn: str = "123456782") -> str:
    answer = post(sim, pki_dir, Raw(body=aanlevering_body(bsn=bsn)))
    assert answer.status == 200
    nummer = answer.doc.findtext(f".//{{{c.SCHEMA_NS}}}meldingsnummer")
    assert nummer
    return nummer


def test_control_api_refuses_non_loopback_bind(pki_dir: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        SimulatorServer(pki_dir, port=0, control_host="0.0.0.0", control_port=0)


def test_meldingen_and_ledger_show_what_was_registered(simulator: SimulatorServer,
                                                       pki_dir: Path) -> None:
    nummer = register(simulator, pki_dir)
    [m] = control(simulator, "meldingen")
    assert (m["meldingsnummer"], m["brin"], m["verzuimsoort"], m["status"]) == (
        nummer, "00AA", "O", "R")
    assert m["melding"]["student"]["bsn"] == "123456782"
    assert control(simulator, "ledger") == {m["document_id"]: 1}
    # Increasing numbers (another student: one open report per student, soort and period).
    assert register(simulator, pki_dir, bsn=valid_bsn(1)) == str(int(nummer) + 1)
    assert control(simulator, "reset", {}) == {"ok": True}
    assert control(simulator, "meldingen") == [] and control(simulator, "ledger") == {}


@pytest.mark.parametrize("path, body, status", [
    ("meldingen/100001/status", {"status": "X"}, 400),
    ("meldingen/999/status", {"status": "B"}, 404),
    ("meldingen/100001/status", {"status": "B", "behandelaar": {"bsn": "1"}}, 400),
    ("faults", {"mode": "explode", "count": 1}, 400),
    ("rod", {"students": [{"geboortedatum": "2000-01-01"}]}, 400),
    ("rod", {"students": "nope"}, 400),
])
def test_control_api_validates_input(path: str, body: dict, status: int,
                                     simulator: SimulatorServer, pki_dir: Path) -> None:
    register(simulator, pki_dir)
    with pytest.raises(urllib.error.HTTPError) as info:
        control(simulator, path, body)
    assert info.value.code == status


def test_fault_plans_are_consumed_in_order(simulator: SimulatorServer, pki_dir: Path) -> None:
    control(simulator, "faults", {"mode": "http_503", "count": 2})
    assert post(simulator, pki_dir, Raw()).status == 503
    assert post(simulator, pki_dir, Raw()).status == 503
    assert post(simulator, pki_dir, Raw()).status == 200


def test_rod_students_drive_the_age_check(simulator: SimulatorServer, pki_dir: Path) -> None:
    control(simulator, "rod", {"students": [{"bsn": "111222333", "geboortedatum": "1960-01-01"}]})
    body = aanlevering_body(bsn="111222333").replace(">O<", ">RMC<")
    answer = post(simulator, pki_dir, Raw(body=body))
    assert answer.doc.findtext(f".//{{{c.SCHEMA_NS}}}leveringGoedgekeurd") == "false"
    assert answer.doc.findtext(f".//{{{c.SCHEMA_NS}}}foutcode") == "VZ007"
    assert b"111222333" not in answer.text and b"1960" not in answer.text


def test_rod_file_is_loaded(pki_dir: Path, tmp_path: Path) -> None:
    rod = tmp_path / "rod.json"
    rod.write_text(json.dumps({"students": [{"onderwijsnummer": "101010101",
                                             "geboortedatum": "2009-05-01"}]}))
    sim = SimulatorServer(pki_dir, port=0, control_port=0, rod_file=rod)
    from datetime import date
    assert sim.state.birth_date(None, "101010101") == date(2009, 5, 1)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError):
        SimulatorServer(pki_dir, port=0, control_port=0, rod_file=bad)


def test_engine_moves_reports_r_b_g_with_officer_and_reason(pki_dir: Path) -> None:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=0.2,
                         delay_afgesloten=0.3) as sim:
        nummer = register(sim, pki_dir)
        seen = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            [m] = control(sim, "meldingen")
            if not seen or seen[-1]["status"] != m["status"]:
                seen.append(m)
            if m["status"] == "G":
                break
            time.sleep(0.05)
    assert [m["status"] for m in seen] == ["R", "B", "G"]
    assert seen[1]["behandelaar"]["naam"] and seen[1]["behandelaar"]["emailadres"]
    assert seen[2]["reden"] and seen[2]["toelichting"]
    assert seen[0]["laatste_mutatie"] < seen[1]["laatste_mutatie"] < seen[2]["laatste_mutatie"]
    assert seen[2]["meldingsnummer"] == nummer


def test_serve_prints_one_ready_line_and_stops_on_sigterm(pki_dir: Path) -> None:
    code = ("import sys; from pathlib import Path; from adapter.simulator.server import serve; "
            "serve(Path(sys.argv[1]), port=0, control_port=0)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(pki_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not line.startswith("simulator:"):
            line = proc.stdout.readline()
        assert line.startswith("simulator: soap=https://127.0.0.1:")
        assert " control=http://127.0.0.1:" in line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


WEB_REPORT = {"source_id": "", "brin": "00AA", "student": {"bsn": "123456782"},
              "verzuimsoort": "L", "begindatum": "2025-03-03", "einddatum": "2025-03-04",
              "vermoedelijke_reden": "vakantie", "melder": {"naam": "M. Balie",
                                                            "emailadres": "m@school.example.org"}}


def test_a_report_typed_into_the_web_counter_is_in_the_changed_reports_feed(
        simulator: SimulatorServer, pki_dir: Path) -> None:
    created = control(simulator, "meldingen", {"brin": "00AA", "melding": WEB_REPORT})
    assert (created["brin"], created["verzuimsoort"], created["status"],
            created["document_id"]) == ("00AA", "L", "R", None)
    assert created["melding"]["student"] == {"bsn": "123456782"}
    assert control(simulator, "meldingen") == [created]
    assert control(simulator, "ledger") == {}                 # no aanlevering
    body = f"""<vz:opvragenGewijzigdeVerzuimmeldingen_Request xmlns:vz="{c.SCHEMA_NS}">
  <vz:identificatiecodeBedrijfsdocument>{uuid.uuid4()}</vz:identificatiecodeBedrijfsdocument>
  <vz:verzendendeInstantie>00AA</vz:verzendendeInstantie>
  <vz:ontvangendeInstantie>DUO</vz:ontvangendeInstantie>
  <vz:datumTijdBedrijfsdocument>2025-03-10T09:15:00.000Z</vz:datumTijdBedrijfsdocument>
  <vz:brin>00AA</vz:brin>
</vz:opvragenGewijzigdeVerzuimmeldingen_Request>"""
    answer = post(simulator, pki_dir, Raw(operation=c.OPVRAGEN_GEWIJZIGD, body=body))
    assert answer.status == 200
    [item] = answer.doc.findall(f".//{{{c.SCHEMA_NS}}}verzuimmelding")
    q = f"{{{c.SCHEMA_NS}}}"
    assert (item.findtext(q + "meldingsnummer"), item.findtext(q + "verzuimsoort"),
            item.findtext(q + "begindatum"), item.findtext(q + "einddatum"),
            item.find(q + "identificatiecodeBedrijfsdocumentAanlevering")) == (
        created["meldingsnummer"], "L", "2025-03-03", "2025-03-04", None)


@pytest.mark.parametrize("body", [
    {"brin": "nope", "melding": WEB_REPORT},
    {"brin": "00AA", "melding": {**WEB_REPORT, "student": {}}},
    {"brin": "00AA", "melding": {**WEB_REPORT, "verzuimsoort": "X"}},
    {"brin": "00AA", "melding": {k: v for k, v in WEB_REPORT.items() if k != "melder"}},
    {"brin": "00AA", "melding": "a report"},
])
def test_a_malformed_web_report_is_refused(body: dict, simulator: SimulatorServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        control(simulator, "meldingen", body)
    assert info.value.code == 400
    assert control(simulator, "meldingen") == []
