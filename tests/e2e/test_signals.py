"""Signals through the daemon: Eduarte-style registrations in, ``signaal`` events out.

The real broker and the daemon's own thread: a student with 3 unauthorised
lesson hours (45 minutes each) on Mondays and Tuesdays of the four school weeks
around the herfstvakantie (week 43 of 2025, region midden) reaches 16 clock
hours on Tuesday 28 October: counted without skipping the holiday week, the last
four weeks would hold only 13.5. A second student, absent the same hours with
leave (authorised), raises nothing.
"""

from __future__ import annotations

import io
import time
from datetime import date, timedelta

import pika
import pytest

from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.sis import connection_parameters, declare_event_tap, declare_topology, publish_export

from bulk_exports import EDUARTE_HEADER, EDUARTE_LESSONS, valid_bsns

from .conftest import wait_for

pytestmark = pytest.mark.timeout(90)
MONDAYS = [date(2025, 9, 29), date(2025, 10, 6), date(2025, 10, 13), date(2025, 10, 27)]


def export(rows: list[tuple[str, str, date, int, str]]) -> bytes:
    """(registration id, BSN, day, lesson, Geoorloofd J/N) rows as an Eduarte-style CSV."""
    out = io.StringIO()
    out.write("\ufeff" + ";".join(EDUARTE_HEADER) + "\r\n")
    for ident, bsn, day, lesson, geoorloofd in rows:
        number, begin, end = EDUARTE_LESSONS[lesson - 1]
        d = day.strftime("%d-%m-%Y")
        out.write(f"{ident};Waarneming;{bsn[-6:]};{bsn};;12-05-2010;0344;00AA;00;Locatie Test;"
                  f"99011;BOL;2;{d};{begin};{d};{end};{number};{number};45;Afwezig;OZ;"
                  f"Afwezig zonder bericht;Absent;{geoorloofd};J;;{d} 16:00:00;N\r\n")
    return out.getvalue().encode("utf-8")


def absences(bsn: str, first_id: int, geoorloofd: str) -> list[tuple[str, str, date, int, str]]:
    days = [(m + timedelta(days=d), lesson) for m in MONDAYS for d in (0, 1)
            for lesson in (1, 2, 3)]
    return [(f"WN-{first_id + n}", bsn, day, lesson, geoorloofd)
            for n, (day, lesson) in enumerate(days)]


class SignalTap:
    """The ``signaal`` messages the adapter publishes, raw (the plugin renders them)."""

    def __init__(self, settings: Settings) -> None:
        self.conn = pika.BlockingConnection(connection_parameters(settings.amqp))
        self.channel = self.conn.channel()
        declare_topology(self.channel, settings.amqp)
        declare_event_tap(self.channel, settings.amqp, "test.signals", routing_key="*.*.signaal")
        self.messages: list[tuple[str, bytes]] = []

    def drain(self) -> list[tuple[str, bytes]]:
        while True:
            method, _, body = self.channel.basic_get("test.signals", auto_ack=True)
            if method is None:
                return self.messages
            self.messages.append((method.routing_key, body))


def test_sixteen_hours_across_the_holiday_week_one_signal_and_none_when_authorised(
        daemon: Daemon, settings: Settings) -> None:
    tap = SignalTap(settings)
    try:
        truant, excused = valid_bsns(2)
        rows = absences(truant, 1000, "N") + absences(excused, 2000, "J")
        publish_export(settings.amqp, body=export(rows), vendor="eduarte")
        raised = wait_for(lambda: [s for s in daemon.store.list_signals()
                                   if s["signaal"] == "zestien_uur"], what="zestien_uur signal")
        [signal] = raised
        assert (signal["begindatum"], signal["einddatum"], signal["uren"]) == (
            "2025-09-29", "2025-10-28", 18.0)
        assert signal["leerlingnummer"] == truant[-6:]
        messages = wait_for(lambda: tap.drain(), what="signaal published")
        assert {key for key, _ in messages} == {"eduarte.00AA.signaal"}
        # The same export again and more rounds of evaluation: nothing is raised twice.
        publish_export(settings.amqp, body=export(rows), vendor="eduarte")
        time.sleep(1.0)
        daemon.signaler.evaluate_once()
        zestien = [s for s in daemon.store.list_signals(include_closed=True)
                   if s["signaal"] == "zestien_uur"]
        assert len(zestien) == 1
        assert all(s["leerlingnummer"] == truant[-6:] for s in daemon.store.list_signals())
        bodies = b"".join(body for _, body in tap.drain())
        assert bodies.count(b"zestien_uur") == 1
        assert truant.encode() not in bodies and excused.encode() not in bodies
    finally:
        tap.conn.close()
