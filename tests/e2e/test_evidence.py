"""``meldingen evidence``: a report's bundle, checked by tools that are not ours.

The daemon registers a report with the simulator, DUO's officer picks it up, and the
bundle is written by the command line. Its envelopes must verify with Debian's
``xmlsec1`` using the PEM files of the bundle itself, ``verification.txt`` must say
so, and the page must render in a real headless browser (Debian's ``chromium``)
with its tables and chart. A changed byte in the store must show as a failed check.
"""

from __future__ import annotations

import hashlib
import random
import re
import stat
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapter.commands.evidence import (
    check_envelope,
    hours_per_week,
    missed_hours_svg,
    render_html,
    verification_text,
)
from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export
from adapter.store import schema as t
from adapter.store.keys import open_store

from .conftest import control, wait_for
from .records import encode, record
from .test_attachments import PDF, attach, bijlage_events
from .test_archive import cli, xmlsec_verify
from .test_process import write_config

pytestmark = pytest.mark.timeout(240)

OFFICER = {"naam": "Leerplicht <Ambtenaar> & Co", "telefoonnummer": "0201234567",
           "emailadres": "lpa@gemeente.test", "organisatie": "Gemeente Test"}


def render(chromium: str, page: Path, work: Path) -> tuple[bytes, str]:
    """Screenshot and rendered DOM of ``page`` from headless chromium."""
    shot = work / "report.png"
    common = [chromium, "--headless", "--disable-gpu", "--no-sandbox",
              f"--user-data-dir={work / 'profile'}", "--window-size=1200,1600"]
    taken = subprocess.run([*common, f"--screenshot={shot}", page.as_uri()],
                           capture_output=True, timeout=120)
    assert taken.returncode == 0, taken.stderr.decode(errors="replace")[-2000:]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    return shot.read_bytes(), dom.stdout.decode()


def verification(bundle: Path) -> dict[str, str]:
    """``verification.txt``: envelope file name → "verifies" / "does NOT verify"."""
    out = {}
    for line in (bundle / "verification.txt").read_text().splitlines():
        name, sep, rest = line.partition(": ")
        if sep and name.endswith(".xml"):
            out[name] = "verifies" if rest.startswith("verifies") else rest.split(" (")[0]
    return out


def test_the_bundle_verifies_independently_and_renders_in_a_browser(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap,
        tmp_path: Path, xmlsec1: str, chromium: str) -> None:
    rng = random.Random(10)
    begin = date(2025, 11, 3)
    rec = record(rng, soort="V3", begindatum=begin.isoformat(), einddatum="2025-11-12",
                 verzuimdagen=[{"datum": "2025-11-03", "hele_dag": True},
                               {"datum": "2025-11-11", "lesuren": [2, 3]}])
    rec["student"].update(voornamen="Kim <script>alert(1)</script>", leerlingnummer="LL-4711",
                          geboortedatum="2010-04-01")
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    nummer = wait_for(lambda: tap.of("registered"), what="registered")[0]["meldingsnummer"]
    control(simulator, f"meldingen/{nummer}/status",
            {"status": "B", "toelichting": "Gesprek gepland", "behandelaar": OFFICER})
    wait_for(lambda: [e for e in tap.of("terugmelding") if e["status"] == "B"
                      and e["behandelaar"]["naam"] == OFFICER["naam"]], what="terugmelding B")
    attach(settings, rec["source_id"], PDF)
    wait_for(lambda: bijlage_events(tap, "registered"), timeout=60, what="attachment sent")
    [report] = [r for r in daemon.store.list_reports() if r.source_id == rec["source_id"]]
    exchanges = daemon.store.exchanges_for(report.report_id)
    assert exchanges and all(x.response_xml for x in exchanges)
    config = write_config(tmp_path / "c.toml", settings)

    out = tmp_path / "bundle"
    made = cli(config, "meldingen", "evidence", str(report.report_id), "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert made.stdout.decode().strip() == str(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    files = {p.name: p for p in out.iterdir()}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files.values())
    assert {"report.html", "verification.txt", "01-aanleverenVerzuimmelding-request.xml",
            "01-aanleverenVerzuimmelding-response.xml"} <= set(files)
    envelope_files = sorted(n for n in files if n.endswith(".xml"))
    stored = [b for x in exchanges for b in (x.request_xml, x.response_xml)]
    assert [files[n].read_bytes() for n in envelope_files] == stored      # byte for byte
    [school_pem] = [p for n, p in files.items() if n.startswith("school-")]
    [duo_pem] = [p for n, p in files.items() if n.startswith("duo-")]

    # The bundle's own certificates suffice for an auditor's xmlsec1.
    for name in envelope_files:
        cert = school_pem if name.endswith("-request.xml") else duo_pem
        checked = xmlsec_verify(xmlsec1, files[name], cert)
        assert checked.returncode == 0 and "OK" in checked.stdout + checked.stderr, name
    assert verification(out) == {n: "verifies" for n in envelope_files}
    text = (out / "verification.txt").read_text()
    assert "signxml" in text and "SHA-256" in text and "serial" in text
    assert "this is the configured duo.signature_cert" in text

    page = (out / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;Ambtenaar&gt; &amp; Co" in page
    assert rec["student"]["bsn"] in page and "LL-4711" in page and "2010-04-01" in page
    assert nummer in page and "in behandeling" in page
    assert "brief.pdf" in page and hashlib.sha256(PDF).hexdigest() in page
    assert "02-aanleverenBijlage-request.xml" in files
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script" not in page

    png, dom = render(chromium, out / "report.html", tmp_path)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert '<table class="verzuimdagen">' in dom and '<svg' in dom and 'id="missed-hours"' in dom
    assert dom.count('class="week"') == 2                  # weeks 45 and 46
    assert "LL-4711" in dom

    # Refusals are one line: a non-empty --out, an unknown id.
    again = cli(config, "meldingen", "evidence", str(report.report_id), "--out", str(out))
    assert again.returncode == 1
    assert again.stderr.decode().strip() == f"error: {out} is not empty (--force writes into it)"
    unknown = cli(config, "meldingen", "evidence", "999999", "--out", str(tmp_path / "x"))
    assert unknown.returncode == 1
    assert unknown.stderr.decode().strip() == "error: no report with id 999999"
    assert not (tmp_path / "x").exists()

    # --all --since: one subfolder per report, progress on stderr.
    many = tmp_path / "many"
    all_of = cli(config, "meldingen", "evidence", "--all", "--since", "2000-01-01",
                 "--out", str(many))
    assert all_of.returncode == 0, all_of.stderr
    assert sorted(p.name for p in many.iterdir()) == [str(report.report_id)]
    assert (many / str(report.report_id) / "report.html").is_file()
    assert "evidence bundles" in all_of.stderr.decode()
    none = cli(config, "meldingen", "evidence", "--all", "--since", "2999-01-01",
               "--out", str(tmp_path / "none"))
    assert none.returncode == 0 and none.stdout == b""

    # One changed byte in a stored request: the bundle says so. (The envelopes are
    # encrypted at rest, so the change is made by someone holding the key.)
    keyed = open_store(settings.store, {})
    try:
        # A write transaction from the start: the daemon still runs, and a read that
        # turned into a write after its commit would fail at once ("database is locked").
        with keyed.database.engine.connect().execution_options(
                sqlite_begin="IMMEDIATE") as conn, conn.begin():
            xid, request = conn.execute(
                sa.select(t.exchanges.c.id, t.exchanges.c.request_xml)
                .where(t.exchanges.c.submission_id.is_not(None))
                .order_by(t.exchanges.c.id).limit(1)).one()
            changed = re.sub(rb"(<[a-z0-9]+:brin>)00AA<", rb"\g<1>00AB<", request, count=1)
            assert changed != request
            conn.execute(t.exchanges.update().where(t.exchanges.c.id == xid)
                         .values(request_xml=changed))
    finally:
        keyed.close()
    tampered = tmp_path / "tampered"
    made = cli(config, "meldingen", "evidence", str(report.report_id), "--out", str(tampered))
    assert made.returncode == 0, made.stderr
    verdicts = verification(tampered)
    assert verdicts.pop("01-aanleverenVerzuimmelding-request.xml") == "does NOT verify"
    assert set(verdicts.values()) == {"verifies"}
    assert xmlsec_verify(xmlsec1, tampered / "01-aanleverenVerzuimmelding-request.xml",
                         school_pem).returncode != 0         # and xmlsec1 agrees
    assert "KLOPT NIET" in (tampered / "report.html").read_text()


def test_the_page_escapes_everything_and_draws_weeks_without_script() -> None:
    days = [{"datum": "2025-11-03", "hele_dag": True}, {"datum": "2025-11-18", "lesuren": [1]}]
    weeks = hours_per_week(days, lambda _d: 7)
    assert weeks == [("2025-W45", 7), ("2025-W46", 0), ("2025-W47", 1)]
    svg = missed_hours_svg(weeks)
    assert svg.count('class="week"') == 3 and "<script" not in svg
    page = render_html(
        detail={"report": {"report_id": 1, "source_id": "<x>", "duo_status": "G"},
                "history": [{"event": "a&b", "detail": "\"q\" <i>"}]},
        content={"payload": {"student": {"achternaam": "<b>Bold</b>"}, "verzuimdagen": days}},
        terugmeldingen=[], bijlagen=[{"bestandsnaam": "<img src=x>.pdf", "sha256": "ab"}],
        checks=[], exchanges=[], files=["report.html"], lessons_in_day=lambda _d: 7,
        made_at=datetime(2026, 1, 1))
    for raw in ("<x>", "<b>Bold</b>", "<i>", "<img src=x>"):
        assert raw not in page
    assert "&lt;img src=x&gt;.pdf" in page and "a&amp;b" in page and "afgesloten" in page


def test_an_unsigned_or_unreadable_envelope_is_a_verdict_not_a_crash() -> None:
    names: list[str] = []

    def cert_file(_cert: object, role: str) -> str:
        names.append(role)
        return f"{role}.pem"

    plain = (b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'>"
             b"<s:Body/></s:Envelope>")
    unsigned = check_envelope("01-x-request.xml", plain, fallback=None, cert_file=cert_file)
    assert not unsigned.verified and "no signature" in unsigned.reason
    garbage = check_envelope("01-x-response.xml", b"not xml", fallback=None, cert_file=cert_file)
    assert not garbage.verified and names == []
    text = verification_text(3, [unsigned, garbage], datetime(2026, 1, 1))
    assert "01-x-request.xml: does NOT verify" in text and "0 of 2 envelopes verify." in text
