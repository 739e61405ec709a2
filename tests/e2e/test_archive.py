"""The archive finds its evidence: every exchange is kept with its submission, and
``meldingen list --json`` / ``meldingen show ID --xml`` give it back as sent.

The envelopes are checked with verifiers that are not ours: Debian's ``xmlsec1``
(the command an auditor runs) and signxml.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from signxml import SignatureConfiguration, XMLVerifier

from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export
from adapter.store.keys import open_store

from .conftest import ROOT, subprocess_env, wait_for
from .records import encode, record
from .test_process import write_config

pytestmark = pytest.mark.timeout(120)

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#: The elements that carry a wsu:Id in our envelopes: xmlsec1 must be told they are ids.
ID_NODES = [f"{SOAP}:Body", f"{WSU}:Timestamp", f"{WSSE}:BinarySecurityToken",
            *(f"{WSA}:{name}" for name in ("To", "Action", "MessageID", "From", "RelatesTo"))]


def xmlsec_verify(xmlsec1: str, envelope: Path, cert: Path) -> subprocess.CompletedProcess[str]:
    """``xmlsec1 --verify`` with the signer's certificate (WS-Security's token reference is
    not something xmlsec1 follows by itself, so the certificate is given)."""
    ids = [arg for node in ID_NODES for arg in ("--id-attr:Id", node)]
    return subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), *ids,
                           str(envelope)], capture_output=True, text=True, timeout=60)


def signxml_verify(envelope: Path, cert: Path) -> int:
    """Verify with signxml; the number of references that verified. (No XML-DSig schema
    check: its strict wildcard refuses the profile's exc-c14n InclusiveNamespaces.)"""
    results = XMLVerifier().verify(
        envelope.read_bytes(), x509_cert=cert.read_text(), id_attribute="Id",
        validate_schema=False, expect_config=SignatureConfiguration(
            require_x509=False, expect_references=True, ignore_ambiguous_key_info=True))
    return len(results) if isinstance(results, list) else 1


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "adapter", "--config", str(config), *args],
                          capture_output=True, env=subprocess_env(), cwd=ROOT, timeout=60)


def test_every_exchange_is_kept_with_its_report_and_verifies_as_sent(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, pki_dir: Path,
        tmp_path: Path, xmlsec1: str) -> None:
    rec = record(random.Random(7), soort="LRV", modified_at="2025-11-10T09:00:00+01:00")
    rec.pop("einddatum", None)
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    wait_for(lambda: tap.of("registered"), what="registered")
    amended = dict(rec, einddatum="2025-11-14", modified_at="2025-11-17T09:00:00+01:00")
    publish_export(settings.amqp, body=encode(amended), vendor="canonical")
    wait_for(lambda: len(tap.of("registered")) == 2, what="the amendment registered")

    [report] = [r for r in daemon.store.list_reports() if r.source_id == rec["source_id"]]
    exchanges = daemon.store.exchanges_for(report.report_id)
    # Before: exchanges were stored without their submission, and a report found none.
    assert [x.operation for x in exchanges] == ["aanleverenVerzuimmelding",
                                                "wijzigenVerzuimmelding"]
    assert all(x.submission_id is not None and x.response_xml for x in exchanges)

    config = write_config(tmp_path / "c.toml", settings)
    listed = cli(config, "meldingen", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    [mine] = [r for r in rows if r["id"] == report.report_id]
    assert mine["source_id"] == rec["source_id"] and mine["state"] == "registered"
    assert {"id", "source_id", "vendor", "brin", "state", "meldingsnummer"} <= set(mine)
    assert mine["meldingsnummer"] == report.meldingsnummer and mine["vendor"] == "canonical"

    out = tmp_path / "evidence"
    shown = cli(config, "meldingen", "show", str(report.report_id), "--xml", "--out", str(out))
    assert shown.returncode == 0, shown.stderr
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [
        "01-aanleverenVerzuimmelding-request.xml", "01-aanleverenVerzuimmelding-response.xml",
        "02-wijzigenVerzuimmelding-request.xml", "02-wijzigenVerzuimmelding-response.xml"]
    stored = [b for x in exchanges for b in (x.request_xml, x.response_xml)]
    assert [f.read_bytes() for f in files] == stored          # byte for byte
    for path in files:
        cert = pki_dir / ("school.pem" if path.name.endswith("request.xml") else "duo.pem")
        checked = xmlsec_verify(xmlsec1, path, cert)
        assert checked.returncode == 0 and "OK" in checked.stdout + checked.stderr, (
            path.name, checked.stdout, checked.stderr)
        assert signxml_verify(path, cert) >= 6                 # Body, Timestamp, BST, WSA…

    # Without --out the same bytes go to standard output, one document after another.
    streamed = cli(config, "meldingen", "show", str(report.report_id), "--xml")
    assert streamed.returncode == 0
    documents = [b"<?xml" + part for part in streamed.stdout.split(b"<?xml")[1:]]
    assert [d.rstrip(b"\n") for d in documents] == [s.rstrip(b"\n") for s in stored]


def test_a_tampered_envelope_fails_the_independent_check(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, pki_dir: Path,
        tmp_path: Path, xmlsec1: str) -> None:
    """The check above can fail: one changed character in a signed part and xmlsec1 says no."""
    rec = record(random.Random(8), soort="V3")
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    wait_for(lambda: tap.of("registered"), what="registered")
    [report] = [r for r in daemon.store.list_reports() if r.source_id == rec["source_id"]]
    request = daemon.store.exchanges_for(report.report_id)[0].request_xml
    bad = tmp_path / "tampered.xml"
    bad.write_bytes(re.sub(rb"(<[a-z0-9]+:brin>)00AA<", rb"\g<1>00AB<", request, count=1))
    assert bad.read_bytes() != request
    assert xmlsec_verify(xmlsec1, bad, pki_dir / "school.pem").returncode != 0
    good = tmp_path / "good.xml"
    good.write_bytes(request)
    assert xmlsec_verify(xmlsec1, good, pki_dir / "school.pem").returncode == 0


def test_show_xml_of_an_unknown_report_is_one_line(settings: Settings, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", settings)
    open_store(settings.store, {}).close()     # an existing store (its key made before)
    shown = cli(config, "meldingen", "show", "999999", "--xml")
    assert shown.returncode == 1
    assert shown.stderr.decode().strip() == "error: no report with id 999999"
