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
