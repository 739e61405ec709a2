"""Encryption at rest end to end: nothing personal lies in the store in the clear.

A report whose free texts, reason, student name and melder contact carry marker
strings goes through the daemon to the simulator; DUO's officer answers with
marked contact and toelichting; an attachment carries a marker too. Afterwards
the SQLite file (with its WAL) or the PostgreSQL database's raw columns must
hold none of the markers, while the store API still returns them all.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr

from adapter.config import Settings
from adapter.domain.model import Student
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export
from adapter.store.common import student_key_of
from adapter.store.keys import student_secret_for

from support import fresh_pg_database, pg_url

from .conftest import control, make_settings, wait_for
from .records import encode, record
from .test_attachments import attach, bijlage_events

pytestmark = pytest.mark.timeout(120)
MARKERS = {
    "reden": "MRKREDEN-Ochtendmist",
    "toelichting": "MRKTOELICHTING-Kraanvogel",
    "actie": "MRKACTIE-Reigerbos",
    "achternaam": "MRKNAAM-Grutto",
    "melder": "MRKMELDER-Tureluur",
    "melder_mail": "mrkmail-kievit@school.test",
    "officer": "MRKOFFICER-Scholekster",
    "officer_tel": "0612398745",
    "officer_toelichting": "MRKDUO-Lepelaar",
    "bijlage": "MRKBIJLAGE-Roerdomp",
}
PDF = (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n% " + MARKERS["bijlage"].encode()
       + b"\n" + bytes(range(256)) * 8)


@pytest.fixture(params=["sqlite", "postgresql"])
def crypt_settings(request: pytest.FixtureRequest, pki_dir: Path, vhost: str,
                   simulator: SimulatorServer, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":   # no key configured: generated next to the database
        yield make_settings(pki_dir, vhost, simulator.soap_url, tmp_path / "store.db")
        return
    key_file = tmp_path / "keys"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    key_file.chmod(0o600)
    base = make_settings(pki_dir, vhost, simulator.soap_url, tmp_path / "unused.db")
    with fresh_pg_database("verzuim_e") as name:
        store = base.store.model_copy(update={   # PostgreSQL needs both keys configured
            "url": pg_url(name), "encryption_key_file": key_file,
            "student_key_secret": SecretStr(secrets.token_urlsafe(48))})
        yield base.model_copy(update={"store": store})


def _raw_sqlite(settings: Settings) -> bytes:
    path = Path(settings.store.url[len("sqlite:///"):])
    with sqlite3.connect(path) as conn:      # everything into the main file, then read all
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*")
                    if not p.name.endswith(".key"))


def _raw_postgresql(settings: Settings) -> bytes:
    engine = sa.create_engine(settings.store.url)
    out: list[bytes] = []
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
            for table in tables:          # every column of every row, as PostgreSQL keeps it
                for row in conn.execute(sa.text(f'SELECT t::text FROM "{table}" t')):
                    out.append(row[0].encode())
                for row in conn.execute(sa.text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = :t AND data_type = 'bytea'"), {"t": table}):
                    for blob in conn.execute(sa.text(f'SELECT "{row[0]}" FROM "{table}"')):
                        if blob[0] is not None:
                            out.append(bytes(blob[0]))
    finally:
        engine.dispose()
    return b"\n".join(out)


def test_no_personal_text_lies_in_the_store_in_the_clear(
        crypt_settings: Settings, simulator: SimulatorServer, tap) -> None:
    settings = crypt_settings                     # the tap reads the same broker vhost
    rec = record(random.Random(41), soort="V3", source_id="VM-CRYPT-1",
                 vermoedelijke_reden=MARKERS["reden"], toelichting=MARKERS["toelichting"],
                 actie_ondernomen=True, toelichting_actie_ondernomen=MARKERS["actie"],
                 melder={"naam": MARKERS["melder"], "emailadres": MARKERS["melder_mail"]})
    rec["student"]["achternaam"] = MARKERS["achternaam"]
    daemon = Daemon(settings)
    daemon.start()
    try:
        wait_for(lambda: daemon.amqp_connected, what="daemon connected")
        publish_export(settings.amqp, body=encode(rec), vendor="canonical")
        nummer = wait_for(lambda: tap.of("registered"), what="registered")[0]["meldingsnummer"]
        control(simulator, f"meldingen/{nummer}/status", {
            "status": "B", "toelichting": MARKERS["officer_toelichting"],
            "behandelaar": {"naam": MARKERS["officer"], "telefoonnummer": MARKERS["officer_tel"]}})
        wait_for(lambda: [e for e in tap.of("terugmelding") if e["status"] == "B"],
                 what="terugmelding B")
        attach(settings, "VM-CRYPT-1", PDF)
        wait_for(lambda: bijlage_events(tap, "registered"), timeout=60, what="attachment sent")
        # The store API reads everything back in the clear.
        [report] = [r for r in daemon.store.list_reports() if r.source_id == "VM-CRYPT-1"]
        content = daemon.store.report_content(report.report_id)
        assert content is not None
        assert content["payload"]["vermoedelijke_reden"] == MARKERS["reden"]
        envelopes = b"".join(x.request_xml + (x.response_xml or b"")
                             for x in daemon.store.exchanges_for(report.report_id))
        assert MARKERS["reden"].encode() in envelopes
        feedback = repr(daemon.store.terugmeldingen_of(report.report_id))
        assert MARKERS["officer"] in feedback
        [bijlage] = daemon.store.bijlagen_of(report.report_id)
        assert bijlage["bestandsnaam"] == "brief.pdf"
    finally:
        daemon.stop(timeout=20)
    raw = (_raw_sqlite(settings) if settings.store.url.startswith("sqlite")
           else _raw_postgresql(settings))
    assert b"VM-CRYPT-1" in raw                   # the plain columns are there to be read
    found = [name for name, marker in MARKERS.items() if marker.encode() in raw]
    assert found == []
    # The student key is keyed with the store's secret: the bare hash of BRIN and BSN,
    # which anyone can compute for every BSN, is nowhere; the keyed one is.
    unkeyed = hashlib.sha256(f"{rec['brin']}\x1fbsn:{rec['student']['bsn']}".encode())
    assert unkeyed.hexdigest().encode() not in raw
    keyed = student_key_of(student_secret_for(settings.store), rec["brin"],
                           Student(bsn=rec["student"]["bsn"]), fallback="")
    assert keyed.encode() in raw
    key = settings.store.encryption_key_file or Path(
        settings.store.url[len("sqlite:///"):] + ".key")
    assert key.stat().st_mode & 0o077 == 0
