"""DUO's own changes, end to end (real broker, real simulator over TLS, the daemon):

- a report typed into DUO's web counter (``POST /control/meldingen``) reaches the SIS
  as a ``terugmelding`` event without ``source_id`` and is in the archive (origin ``web``);
- a student whose onderwijsnummer is replaced by a BSN stays one student through the
  SIS's ``leerlingnummer``: registrations under the one fill the report sent with the other.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import control, wait_for
from .records import encode, make_bsn, record
from .test_archive import cli
from .test_process import write_config

pytestmark = pytest.mark.timeout(90)

ONR = "100000004"   # passes the onderwijsnummer check


def test_a_report_typed_into_duos_web_counter_reaches_the_sis_and_the_archive(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap,
        tmp_path: Path) -> None:
    rng = random.Random(906)
    typed = record(rng, soort="L", einddatum="2025-11-12")
    typed.pop("source_id")
    # The municipality waits until the report's first feedback is out: with its usual
    # 0.5 s it could take the report up before the poller (every 0.5 s) saw it in R.
    simulator.engine.delay_behandeling = None
    created = control(simulator, "meldingen", {"brin": "00AA", "melding": typed})
    nummer = created["meldingsnummer"]
    [event] = wait_for(lambda: [e for e in tap.of("terugmelding")
                                if e["meldingsnummer"] == nummer], what="terugmelding")
    simulator.engine.delay_behandeling = 0.5
    assert event["source_id"] is None and event["origin"] == "web"
    assert (event["status"], event["verzuimsoort"], event["begindatum"], event["einddatum"]) == (
        "R", "L", typed["begindatum"], "2025-11-12")
    assert typed["student"]["bsn"] not in json.dumps(event)      # DUO's feed names no student

    # the municipality takes it up: the same report follows
    control(simulator, f"meldingen/{nummer}/status",
            {"status": "B", "behandelaar": {"naam": "L. Plicht", "organisatie": "Gemeente X"}})
    later = wait_for(lambda: [e for e in tap.of("terugmelding")
                              if e["meldingsnummer"] == nummer and e["status"] == "B"],
                     what="terugmelding B")
    assert later[0]["source_id"] is None and later[0]["behandelaar"]["naam"] == "L. Plicht"

    listed = cli(write_config(tmp_path / "c.toml", settings), "meldingen", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [web] = [r for r in json.loads(listed.stdout) if r["meldingsnummer"] == nummer]
    assert (web["origin"], web["source_id"], web["state"], web["verzuimsoort"],
            web["brin"], web["vendor"]) == ("web", None, "registered", "L", "00AA", "canonical")
    assert web["duo_status"] in ("B", "G")                       # the engine moves on to G


def test_registrations_under_the_onderwijsnummer_fill_the_report_sent_with_the_bsn(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap) -> None:
    rng = random.Random(907)
    bsn = make_bsn(rng)
    regs = [{"source_id": f"AM-{day}@2025-11-{day:02d}", "brin": "00AA",
             "student": {"onderwijsnummer": ONR, "leerlingnummer": "L-4711"},
             "datum": f"2025-11-{day:02d}", "lesuren": [1, 2], "lessons_in_day": 8,
             "modified_at": "2025-11-10T12:00:00+01:00"} for day in (4, 5)]
    publish_export(settings.amqp, body=json.dumps({"registraties": regs}).encode(),
                   vendor="canonical", kind="registraties")
    wait_for(lambda: _registraties(daemon) == 2,
             what="registrations stored")
    report = record(rng, bsn=bsn, source_id="VM-BSN", begindatum="2025-11-03",
                    einddatum="2025-11-14", verzuimdagen=[],
                    student={"bsn": bsn, "leerlingnummer": "L-4711"})
    publish_export(settings.amqp, body=encode(report), vendor="canonical")
    [registered] = wait_for(lambda: [e for e in tap.of("registered")
                                     if e["source_id"] == "VM-BSN"], what="report registered")
    held = {m["meldingsnummer"]: m for m in control(simulator, "meldingen")}
    melding = held[registered["meldingsnummer"]]["melding"]
    assert melding["student"]["bsn"] == bsn and "onderwijsnummer" not in melding["student"]
    assert melding["verzuimdagen"] == [
        {"datum": "2025-11-04", "hele_dag": False, "lesuren": [1, 2]},
        {"datum": "2025-11-05", "hele_dag": False, "lesuren": [1, 2]},
    ]
    assert registered["registratie_ids"] == ["AM-4@2025-11-04", "AM-5@2025-11-05"]
    assert registered["leerlingnummer"] == "L-4711"


def _registraties(daemon: Daemon) -> int:
    import sqlalchemy as sa

    from adapter.store import schema as t
    with daemon.store.database.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.registraties))
                   .scalar_one())
