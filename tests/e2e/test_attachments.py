"""Attachments end to end: a SIS publishes a file to ``<vendor>.bijlage``; DUO gets it once.

The real broker, the daemon and the simulator over TLS. The simulator's control API
lists what it received per report: name, type, size and the SHA-256 of the content.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import control, wait_for
from .records import encode, record

pytestmark = pytest.mark.timeout(120)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(range(256)) * 40


def attach(settings: Settings, source_id: str, content: bytes, name: str = "brief.pdf",
           content_type: str = "application/pdf") -> str:
    return publish_export(settings.amqp, body=content, vendor="canonical", kind="bijlage",
                          content_type=content_type,
                          headers={"source_id": source_id, "bestandsnaam": name})


def bijlage_events(tap: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in tap.of(kind) if e.get("operation") == "aanleverenBijlage"]


def stored_rows(settings: Settings) -> int:
    engine = sa.create_engine(settings.store.url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM bijlagen")).scalar_one())
    finally:
        engine.dispose()


def test_a_file_published_with_its_report_reaches_duo_once_even_when_the_answer_is_lost(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap) -> None:
    rec = record(random.Random(7), source_id="VM-BIJLAGE-1")
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    # DUO takes the first attachment call, then the answer never comes (read timeout):
    # the adapter must send it again with the same document id, which DUO knows.
    control(simulator, "faults", {"mode": "commit_then_hang", "count": 1, "seconds": 4,
                                  "operation": "aanleverenBijlage"})
    attach(settings, "VM-BIJLAGE-1", PDF)                # may arrive before the report is sent
    sent = wait_for(lambda: bijlage_events(tap, "registered"), timeout=60,
                    what="attachment registered")[0]
    nummer = sent["meldingsnummer"]
    assert (sent["source_id"], sent["bestandsnaam"]) == ("VM-BIJLAGE-1", "brief.pdf")
    [held] = [m for m in control(simulator, "meldingen") if m["meldingsnummer"] == nummer]
    assert [{k: b[k] for k in ("bestandsnaam", "mime_type", "size", "sha256")}
            for b in held["bijlagen"]] == [{"bestandsnaam": "brief.pdf",
                                            "mime_type": "application/pdf", "size": len(PDF),
                                            "sha256": hashlib.sha256(PDF).hexdigest()}]
    assert control(simulator, "ledger")[sent["business_document_id"]] == 1
    time.sleep(1.0)
    assert len(bijlage_events(tap, "registered")) == 1 and not bijlage_events(tap, "rejected")
    # Its envelopes are with the report's in the archive.
    [report] = [r for r in daemon.store.list_reports() if r.source_id == "VM-BIJLAGE-1"]
    assert "aanleverenBijlage" in {x.operation for x in daemon.store.exchanges_for(report.report_id)}


def test_a_refused_file_is_a_rejected_event_and_its_bytes_are_kept_nowhere(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap) -> None:
    rec = record(random.Random(8), source_id="VM-BIJLAGE-2")
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    wait_for(lambda: tap.of("registered"), what="report registered")
    secret = b"MZ\x90\x00" + b"geheime inhoud van de leerling" * 10
    attach(settings, "VM-BIJLAGE-2", secret, name="brief.pdf")      # an executable, named .pdf
    rejected = wait_for(lambda: bijlage_events(tap, "rejected"), what="attachment rejected")[0]
    assert [(e["code"], e["field"]) for e in rejected["errors"]] == [("AD041", "inhoud")]
    assert stored_rows(settings) == 0
    engine = sa.create_engine(settings.store.url)
    try:
        with engine.connect() as conn:
            dump = b"".join(str(row).encode() for table in ("outbox", "inbox_messages", "exchanges")
                            for row in conn.execute(sa.text(f"SELECT * FROM {table}")).all())
    finally:
        engine.dispose()
    assert b"geheime inhoud" not in dump
    [held] = control(simulator, "meldingen")
    assert held["bijlagen"] == []
