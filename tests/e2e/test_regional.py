"""Regional agreements through the daemon: a V4 report a municipality does not want is
held, never reaches the simulator, and is signalled once; an unknown municipality's
V4 report is sent as usual; a restart under an agreement that wants V4 releases it.

The real broker, the real simulator, the daemon in this process.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from adapter.config import MunicipalitySettings, Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export
from verzuim_eduarte.schema import REPORT_HEADER

from bulk_exports import EDUARTE_HEADER, valid_bsns

from .conftest import Tap, control, wait_for
from .records import encode, make_bsn, record

pytestmark = pytest.mark.timeout(120)


def agreeing(settings: Settings, **v4: bool) -> Settings:
    """``settings`` with ``[[municipalities]]`` entries ``code=v4``."""
    return settings.model_copy(update={"municipalities": tuple(
        MunicipalitySettings(code=code.lstrip("m"), v4=wants) for code, wants in v4.items())})


def adult_v4(rng: random.Random, source_id: str, gemeentecode: str) -> dict[str, Any]:
    body = record(rng, soort="V4", source_id=source_id, bsn=make_bsn(rng))
    body["student"].update(geboortedatum="2005-06-01", gemeentecode=gemeentecode,
                           leerlingnummer=f"L{source_id[-3:]}")
    return body


def started(settings: Settings) -> Daemon:
    d = Daemon(settings)
    d.start()
    wait_for(lambda: d.amqp_connected, what="daemon connected to the broker")
    return d


def test_v4_held_for_a_municipality_without_v4_and_sent_for_an_unknown_one(
        settings: Settings, simulator: SimulatorServer, tap: Tap) -> None:
    rng = random.Random(20261205)
    held = adult_v4(rng, "VM-V4-001", "0307")
    sent = adult_v4(rng, "VM-V4-002", "0344")
    daemon = started(agreeing(settings, m0307=False))
    try:
        publish_export(settings.amqp, body=encode(held, sent), vendor="canonical")
        wait_for(lambda: [e for e in tap.of("registered") if e["source_id"] == "VM-V4-002"],
                 what="the unknown municipality's V4 report registered")
        [signal] = wait_for(lambda: tap.of("signaal"), what="regionale_afspraak signal")
        assert signal["signaal"] == "regionale_afspraak"
        assert signal["source_id"] == "VM-V4-001"
        assert (signal["leerlingnummer"], signal["begindatum"], signal["einddatum"],
                signal["uren"], signal["meld_uiterlijk"]) == (
            "L001", held["begindatum"], held["einddatum"], 0, None)
        assert signal["reden"] == "gemeente 0307 wil geen V4-meldingen (regionale afspraak)"
        assert held["student"]["bsn"] not in str(signal)
        ledger = control(simulator, "ledger")
        assert len(ledger) == 1 and list(ledger.values()) == [1]     # only VM-V4-002 was sent
        states = {r.source_id: r.state for r in daemon.store.list_reports()}
        assert states == {"VM-V4-001": "held", "VM-V4-002": "registered"}
        # nothing else happens to the held report: no rejection, no send, one signal
        daemon.submitter.wake()
        wait_for(lambda: control(simulator, "ledger") == ledger, what="ledger unchanged")
        assert not tap.of("rejected")
        assert len(tap.of("signaal")) == 1
        # gemeentecode is never sent to DUO
        sent_xml = b"".join(x.request_xml for r in daemon.store.list_reports()
                            for x in daemon.store.exchanges_for(r.report_id))
        assert sent_xml and b"gemeente" not in sent_xml.lower()
    finally:
        daemon.stop(timeout=20)

    # The region now wants V4 reports: the restarted daemon releases and sends it.
    daemon = started(agreeing(settings, m0307=True))
    try:
        registered = wait_for(lambda: [e for e in tap.of("registered")
                                       if e["source_id"] == "VM-V4-001"],
                              what="the released report registered")
        assert len(registered) == 1
        assert len(control(simulator, "ledger")) == 2
        assert len(tap.of("signaal")) == 1                           # published once
        [listed] = daemon.store.list_signals(include_closed=True)
        assert listed["state"] == "closed"
    finally:
        daemon.stop(timeout=20)


def eduarte_registrations(students: list[tuple[str, str]]) -> bytes:
    """(BSN, Woongemeentecode): one unauthorised lesson on Monday 3 Nov 2025 each, age 20."""
    out = "\ufeff" + ";".join(EDUARTE_HEADER) + "\r\n"
    for n, (bsn, code) in enumerate(students):
        out += (f"WN-{9100 + n};Waarneming;{bsn[-6:]};{bsn};;12-05-2005;{code};00AA;00;Locatie;"
                f"99011;BOL;2;03-11-2025;08:30;03-11-2025;09:15;1;1;45;Afwezig;OZ;"
                f"Afwezig zonder bericht;Absent;N;J;;03-11-2025 16:00:00;N\r\n")
    return out.encode("utf-8")


def eduarte_v4_reports(bsns: list[str]) -> bytes:
    """One V4 report per student; the report export has no Woongemeentecode column."""
    out = "\ufeff" + ";".join(REPORT_HEADER) + "\r\n"
    for n, bsn in enumerate(bsns):
        out += (f"VM-E{n};{bsn[-6:]};{bsn};;12-05-2005;00AA;00;;V4;03-11-2025;07-11-2025;"
                f"Testreden;;J;Gesprek;;N;Test Melder;;;melder@roc-00aa.test;;;"
                f"07-11-2025 09:00:00;N\r\n")
    return out.encode("utf-8")


def test_eduarte_v4_report_is_judged_by_its_students_woongemeentecode(
        settings: Settings, simulator: SimulatorServer) -> None:
    """Eduarte: the municipality comes from the registrations export (column 7)."""
    held, sent = valid_bsns(2)
    daemon = started(agreeing(settings, m0307=False))
    try:
        publish_export(settings.amqp, body=eduarte_registrations([(held, "0307"), (sent, "0344")]),
                       vendor="eduarte")
        wait_for(lambda: len(daemon.store.signal_students()) == 2, what="registrations stored")
        publish_export(settings.amqp, body=eduarte_v4_reports([held, sent]), vendor="eduarte")
        states = wait_for(lambda: (s := {r.source_id: r.state
                                         for r in daemon.store.list_reports()}).get(
            "VM-E1") == "registered" and s, what="VM-E1 registered")
        assert states == {"VM-E0": "held", "VM-E1": "registered"}
        assert len(control(simulator, "ledger")) == 1
        [signal] = daemon.store.list_signals()
        assert (signal["signaal"], signal["leerlingnummer"]) == ("regionale_afspraak",
                                                                 held[-6:])
        assert "0307" in str(signal["reden"])
    finally:
        daemon.stop(timeout=20)
