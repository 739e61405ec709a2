"""``verzuim-adapter demo`` (what ``make run`` runs): the whole path once.

Writes a test PKI, starts the DUO simulator and the daemon in this process,
publishes the shipped sample exports the way a SIS would, shows each event that
comes back on the SIS side, and ends with a table and one summary line::

    demo: registered=<n> rejected=<n> terugmeldingen=<n> dead=<n>

Progress goes to stdout without personal data; the daemon's JSON log goes to
``daemon.log`` beside the store.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import click
import pika

from adapter.config import Settings
from adapter.logging import configure_logging

TAP_QUEUE = "verzuim.demo.sis-events"
SAMPLES = Path(__file__).resolve().parents[1] / "config" / "samples"


def say(text: str) -> None:
    click.echo(text)


def sample_files(samples: Path) -> list[tuple[str, Path]]:
    """(vendor, file) for every sample export: one directory per vendor."""
    found = []
    for vendor_dir in sorted(p for p in samples.iterdir() if p.is_dir()):
        for f in sorted(vendor_dir.iterdir()):
            if f.is_file() and f.suffix in (".json", ".csv") and f.stem != "rod":
                found.append((vendor_dir.name, f))
    return found


def _store_settled(daemon: object) -> bool:
    counts = daemon.store.counts()  # type: ignore[attr-defined]
    busy = sum(counts["submissions"].get(s, 0) for s in ("pending", "submitting", "unknown"))
    return busy == 0 and counts["outbox"].get("pending", 0) == 0


def run_demo(settings: Settings, *, timeout: float = 150.0, samples: Path = SAMPLES,
             control_port: int = 8444) -> int:
    """Run the demo; returns 0 when every part of the path was exercised."""
    from adapter.daemon import Daemon
    from adapter.pki.testpki import init_test_pki
    from adapter.simulator.server import SimulatorServer
    from adapter.sis import connection_parameters, declare_event_tap, declare_topology, publish_export

    pki_dir = Path(settings.duo.ca_bundle).parent
    workdir = pki_dir.parent
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"demo: writing a test PKI to {pki_dir}")
    init_test_pki(pki_dir, school_oin=settings.school.oin)
    db = settings.store.url.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        Path(db + suffix).unlink(missing_ok=True)
    log_path = workdir / "daemon.log"
    log_file = log_path.open("w", encoding="utf-8")
    configure_logging(settings.logging.level, "json", stream=log_file)

    port = urlsplit(settings.duo.url).port or 443
    rod = samples / "canonical" / "rod.json"
    sim = SimulatorServer(pki_dir, port=port, control_port=control_port,
                          delay_behandeling=2.0, delay_afgesloten=4.0,
                          rod_file=rod if rod.exists() else None)
    sim.start()
    say(f"demo: DUO simulator on {sim.soap_url} (control {sim.control_url})")

    conn = pika.BlockingConnection(connection_parameters(settings.amqp))
    channel = conn.channel()
    declare_topology(channel, settings.amqp)
    declare_event_tap(channel, settings.amqp, TAP_QUEUE)
    channel.queue_purge(TAP_QUEUE)
    dead_before = channel.queue_declare(settings.amqp.dead_queue, passive=True).method.message_count

    daemon = Daemon(settings, environ=os.environ)
    daemon.start()
    say(f"demo: daemon started (store {db}, log {log_path})")
    files = sample_files(samples)
    for vendor, path in files:
        publish_export(settings.amqp, body=path.read_bytes(), vendor=vendor,
                       content_type="application/json" if path.suffix == ".json" else "text/csv")
        say(f"demo: published {vendor}/{path.name}")

    counts: Counter[str] = Counter()
    rows: list[tuple[str, str, str, str]] = []
    final_status: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    dead = 0
    try:
        while time.monotonic() < deadline:
            method, props, body = channel.basic_get(TAP_QUEUE, auto_ack=True)
            if method is None:
                now_dead = channel.queue_declare(settings.amqp.dead_queue,
                                                 passive=True).method.message_count - dead_before
                if now_dead > dead:
                    say(f"demo: {'dead-letter':<12} {now_dead - dead} message(s) moved to "
                        f"{settings.amqp.dead_queue} (reason in header x-verzuim-reason)")
                dead = now_dead
                open_reports = [n for n, s in final_status.items() if s not in ("G", "K", "I")]
                if counts["registered"] and not open_reports and dead and _store_settled(daemon):
                    break
                conn.sleep(0.3)
                continue
            event = method.routing_key.rsplit(".", 1)[-1]
            counts[event] += 1
            info = _describe(event, body)
            rows.append((event, info.get("source_id", "-"), info.get("meldingsnummer", "-"),
                         info.get("detail", "")))
            if event in ("registered", "terugmelding") and info.get("meldingsnummer"):
                final_status[info["meldingsnummer"]] = info.get("status", "?")
            say(f"demo: {event:<12} source={info.get('source_id', '-'):<24} "
                f"meldingsnummer={info.get('meldingsnummer', '-'):<8} {info.get('detail', '')}")
        else:
            say(f"demo: timed out after {timeout:.0f}s; showing what arrived")
    finally:
        daemon.stop()
        sim.stop()
        conn.close()
        log_file.close()

    say("")
    say(f"{'event':<13} {'source id':<24} {'meldingsnummer':<15} detail")
    for event, source, nummer, detail in rows:
        say(f"{event:<13} {source:<24} {nummer:<15} {detail}")
    say("")
    say(f"demo: registered={counts['registered']} rejected={counts['rejected']} "
        f"terugmeldingen={counts['terugmelding']} dead={dead}")
    ok = counts["registered"] >= 3 and counts["rejected"] >= 1 and counts["terugmelding"] >= 3 and dead >= 1
    return 0 if ok else 1


def _describe(event: str, body: bytes) -> dict[str, str]:
    """Pick ids and codes from an event body for display: never names or texts."""
    try:
        data = json.loads(body)
    except ValueError:
        return {"detail": f"{len(body)} bytes"}
    if not isinstance(data, dict):
        return {"detail": f"{len(body)} bytes"}
    info = {k: str(data[k]) for k in ("source_id", "meldingsnummer", "status") if data.get(k)}
    if event == "registered":
        info["detail"] = f"status {data.get('status', '?')}"
    elif event == "rejected":
        codes = [str(e.get("code", "?")) + (f" {e['field']}" if e.get("field") else "")
                 for e in data.get("errors", []) if isinstance(e, dict)]
        info["detail"] = "reasons: " + ", ".join(codes)
    elif event == "terugmelding":
        officer_data = data.get("behandelaar")
        officer = ("officer contact received" if isinstance(officer_data, dict)
                   and any(officer_data.values()) else "")
        info["detail"] = f"status {data.get('status', '?')} {officer}".strip()
    return info
