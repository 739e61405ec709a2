"""A registration that makes a registered report invalid: refused, not sent.

Through the broker, the daemon (Magister-style vendor) and the simulator over TLS.
An open-ended LRV report is registered at DUO with its days from the items; then an
item dated after today arrives (a planned absence). Merged, the report would list a
day outside its period (VZ013): before, the adapter sent the ``wijzigen`` and DUO
refused it; now the merged report is checked before anything is queued, a
``rejected`` event names the rule, code and field, and DUO receives nothing more.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from adapter.config import Settings
from adapter.domain.rules import RULES
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import control, wait_for

pytestmark = pytest.mark.timeout(90)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def weekday(start: date, step: int) -> date:
    day = start
    while day.isoweekday() > 5:
        day += timedelta(days=step)
    return day


def stamp(day: date, clock: time) -> str:
    moment = datetime.combine(day, clock, tzinfo=AMSTERDAM).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def item(id_: int, day: date) -> dict:
    start, end = stamp(day, time(8, 30)), stamp(day, time(9, 15))   # lesson 1
    return {"Id": id_, "Stamnummer": "S1", "Start": start, "Eind": end, "Code": "A",
            "Verantwoordingtype": 1, "Geoorloofd": False,
            "Afspraak": {"Start": start, "Einde": end, "LesuurVan": 1, "LesuurTotMet": 1,
                         "Type": 13, "Status": 1}}


def export(**parts: object) -> bytes:
    return json.dumps({"Export": {"Brin": "00AA"},
                       "Leerlingen": [{"Stamnummer": "S1", "Bsn": "123456782"}],
                       **parts}).encode()


def test_a_registration_making_the_report_invalid_is_refused_not_sent(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap) -> None:
    today = datetime.now(AMSTERDAM).date()
    begin = weekday(today - timedelta(days=10), -1)
    future = weekday(today + timedelta(days=3), 1)
    report = {"Id": "LRV-1", "Stamnummer": "S1", "Verzuimsoort": "LRV",
              "Begindatum": begin.isoformat(), "VermoedelijkeReden": "Testreden Lijsterbes",
              "Melder": {"Naam": "Mentor Merel", "Email": "mentor@school.test"}}
    publish_export(settings.amqp, body=export(Items=[item(1, begin)], Meldingen=[report]),
                   vendor="magister", content_type="application/json")
    wait_for(lambda: tap.of("registered"), what="the report registered")
    [entry] = control(simulator, "meldingen")
    assert [d["datum"] for d in entry["melding"]["verzuimdagen"]] == [begin.isoformat()]

    publish_export(settings.amqp, body=export(Items=[item(2, future)]), vendor="magister",
                   content_type="application/json")
    [event] = wait_for(lambda: tap.of("rejected"), what="rejected event")
    assert event["Soort"] == "Afwijzing" and event["MeldingId"] == "LRV-1"
    assert event["Bewerking"] == "Wijzigen"
    assert event["Fouten"] == [{"Code": "VZ013", "Veld": "verzuimdagen[1].datum",
                                "Regel": RULES["VZ013"], "Tekst": RULES["VZ013"]}]

    # No wijzigen was queued, so DUO still holds the report as first sent.
    assert daemon.store.counts()["submissions"] == {"done": 1}
    [entry] = control(simulator, "meldingen")
    assert [d["datum"] for d in entry["melding"]["verzuimdagen"]] == [begin.isoformat()]
    assert list(control(simulator, "ledger").values()) == [1]
