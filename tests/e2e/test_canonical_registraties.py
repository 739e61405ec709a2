"""Registrations from the canonical vendor fill a canonical report's days (real broker,
real simulator): ``{"registraties": [...]}`` with routing key ``canonical.registraties``."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export
from adapter.store import schema as t

from .conftest import control, wait_for
from .records import encode, make_bsn, record

pytestmark = pytest.mark.timeout(90)


def registratie(bsn: str, source_id: str, datum: str, **fields: Any) -> dict[str, Any]:
    return {"source_id": source_id, "brin": "00AA", "student": {"bsn": bsn}, "datum": datum,
            "lessons_in_day": 8, "modified_at": "2025-11-10T12:00:00+01:00", **fields}


def stored_registraties(daemon: Daemon) -> int:
    with daemon.store.database.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.registraties))
                   .scalar_one())


def test_canonical_registrations_fill_the_report_sent_to_duo(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap) -> None:
    rng = random.Random(20261205)
    bsn, wrong = make_bsn(rng), "123456789"      # the second fails the 11-proef
    regs = [
        registratie(bsn, "AM-1@2025-11-04", "2025-11-04", lesuren=[1, 2]),
        registratie(bsn, "AM-2@2025-11-04", "2025-11-04", lesuren=[2, 3]),     # overlap once
        registratie(bsn, "AM-3@2025-11-05", "2025-11-05", lesuren=list(range(1, 9))),
        registratie(bsn, "AM-4@2025-11-06", "2025-11-06", lesuren=[1], geoorloofd=True),
        registratie(bsn, "AM-5@2025-11-20", "2025-11-20", lesuren=[1]),       # after the period
        registratie(wrong, "AM-6@2025-11-07", "2025-11-07", lesuren=[4]),
    ]
    publish_export(settings.amqp, body=json.dumps({"registraties": regs}).encode(),
                   vendor="canonical", kind="registraties")
    rejected = wait_for(lambda: tap.of("rejected"), what="the bad registration rejected")
    [bad] = rejected
    assert bad["position"] == "$.registraties[5]" and bad["source_id"] == "AM-6@2025-11-07"
    assert [e["field"] for e in bad["errors"]] == ["$.registraties[5].student.bsn"]
    assert wrong not in json.dumps(bad)
    wait_for(lambda: stored_registraties(daemon) == 5, what="registrations stored")

    report = record(rng, bsn=bsn, source_id="VM-R1", begindatum="2025-11-03",
                    einddatum="2025-11-14", verzuimdagen=[])
    publish_export(settings.amqp, body=encode(report), vendor="canonical")
    [registered] = wait_for(lambda: [e for e in tap.of("registered")
                                     if e["source_id"] == "VM-R1"], what="report registered")
    held = {m["meldingsnummer"]: m for m in control(simulator, "meldingen")}
    melding = held[registered["meldingsnummer"]]["melding"]
    assert melding["verzuimdagen"] == [
        {"datum": "2025-11-04", "hele_dag": False, "lesuren": [1, 2, 3]},
        {"datum": "2025-11-05", "hele_dag": True, "lesuren": []},
    ]
    assert registered["registratie_ids"] == ["AM-1@2025-11-04", "AM-2@2025-11-04",
                                             "AM-3@2025-11-05"]
    assert len(control(simulator, "ledger")) == 1
