"""``verzuim-adapter demo`` (what ``make run`` runs): the whole path once.

Writes a test PKI, starts the DUO simulator and the daemon in this process,
publishes the shipped sample exports of every installed vendor the way a SIS
would (in file-name order, each after the previous one settled, so amendments
and withdrawals follow their reports), shows each event that comes back on the
SIS side, and ends with a table and one summary line::

    demo: registered=<n> rejected=<n> terugmeldingen=<n> dead=<n>

Progress goes to stdout without personal data (ids, codes and statuses only);
the daemon's JSON log goes to ``daemon.log`` beside the store.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pika

from adapter.config import Settings
from adapter.domain.model import OutboundEvent
from adapter.logging import configure_logging
from adapter.store import Store

TAP_QUEUE = "verzuim.demo.sis-events"
ROOT = Path(__file__).resolve().parents[2]
NUMBERED = re.compile(r"^\d{2}-")


def say(text: str) -> None:
    click.echo(text)


def sample_files(root: Path = ROOT, vendors: set[str] | None = None) -> list[tuple[str, Path]]:
    """(vendor, file) in publish order: the canonical samples, then each plugin's
    numbered demo samples (``plugins/<vendor>/samples/NN-*``; other files there are
    test fixtures)."""
    found: list[tuple[str, Path]] = []
    canonical = root / "config" / "samples" / "canonical"
    if canonical.is_dir():
        found += [("canonical", f) for f in sorted(canonical.glob("*.json")) if f.stem != "rod"]
    for plugin in sorted((root / "plugins").glob("*/samples")):
        vendor = plugin.parent.name
        if vendors is not None and vendor not in vendors:
            continue
        found += [(vendor, f) for f in sorted(plugin.iterdir())
                  if f.is_file() and NUMBERED.match(f.name) and f.suffix in (".json", ".csv")]
    return found


def merged_rod(root: Path, target: Path) -> Path:
    """One simulator student registry from every sample directory's ``rod.json``."""
    students: list[dict[str, Any]] = []
    for rod in [root / "config" / "samples" / "canonical" / "rod.json",
                *sorted((root / "plugins").glob("*/samples/rod.json"))]:
        if rod.exists():
            students += json.loads(rod.read_text(encoding="utf-8")).get("students", [])
    target.write_text(json.dumps({"students": students}), encoding="utf-8")
    return target


class Watcher:
    """Shows what the SIS receives: events on a tap queue, and new dead letters."""

    def __init__(self, channel: Any, settings: Settings, store: Any) -> None:
        self.channel = channel
        self.settings = settings
        self.store = store
        self.counts: Counter[str] = Counter()
        self.rows: list[tuple[str, str, str, str]] = []
        self.status: dict[str, str] = {}
        self.dead = 0
        self._dead_before = self._dead_count()

    def _dead_count(self) -> int:
        return int(self.channel.queue_declare(self.settings.amqp.dead_queue,
                                              passive=True).method.message_count)

    def poll(self) -> None:
        while True:
            method, props, body = self.channel.basic_get(TAP_QUEUE, auto_ack=True)
            if method is None:
                break
            vendor = method.routing_key.split(".", 1)[0]
            kind = method.routing_key.rsplit(".", 1)[-1]
            event = self.store.event(props.message_id) if props.message_id else None
            self._show(vendor, kind, event, props.content_type, len(body))
        dead = self._dead_count() - self._dead_before
        if dead > self.dead:
            say(f"demo: {'dead-letter':<12} {dead - self.dead} message(s) moved to "
                f"{self.settings.amqp.dead_queue} (reason in header x-verzuim-reason)")
            self.dead = dead

    def _show(self, vendor: str, kind: str, event: OutboundEvent | None, ctype: str | None,
              size: int) -> None:
        self.counts[kind] += 1
        data = event.data if event else {}
        source = (event.source_id if event else None) or "-"
        nummer = str(data.get("meldingsnummer") or "-")
        detail = describe(kind, data)
        if kind in ("registered", "terugmelding") and nummer != "-":
            self.status[nummer] = str(data.get("status", "?"))
        self.rows.append((kind, f"{vendor}/{source}", nummer, detail))
        say(f"demo: {kind:<12} {vendor + '/' + source:<34} meldingsnummer={nummer:<7} "
            f"{detail} [{ctype or '?'}, {size} bytes]")

    def finished(self) -> bool:
        open_reports = [n for n, s in self.status.items() if s not in ("G", "K", "I")]
        return bool(self.counts["registered"]) and not open_reports and self.dead > 0


def describe(kind: str, data: dict[str, Any]) -> str:
    """Codes and statuses for display: never names, contact data or texts."""
    if kind == "registered":
        return f"{data.get('operation', '')} status {data.get('status', '?')}".strip()
    if kind == "rejected":
        return "reasons: " + ", ".join(
            str(e.get("code", "?")) + (f" {e['field']}" if e.get("field") else "")
            for e in data.get("errors", []) if isinstance(e, dict))
    if kind == "terugmelding":
        officer = data.get("behandelaar")
        has_officer = isinstance(officer, dict) and any(officer.values())
        return f"status {data.get('status', '?')}" + (" officer contact received"
                                                      if has_officer else "")
    if kind == "failed":
        return "gave up after retries"
    return ""


def _settled(store: Store) -> bool:
    counts = store.counts()
    busy = sum(counts["submissions"].get(s, 0) for s in ("pending", "submitting", "unknown"))
    return busy == 0 and counts["outbox"].get("pending", 0) == 0


def _wait(condition: Callable[[], bool], poll: Callable[[], None], seconds: float,
          sleep: Callable[[float], None]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        poll()
        if condition():
            return True
        sleep(0.3)
    return False


def run_demo(settings: Settings, *, timeout: float = 150.0, root: Path = ROOT,
             control_port: int = 8444) -> int:
    """Run the demo; returns 0 when every part of the path was exercised."""
    from adapter.pipeline.daemon import Daemon
    from adapter.pki.testpki import init_test_pki
    from adapter.simulator.server import SimulatorServer
    from adapter.sis import (
        connection_parameters,
        declare_event_tap,
        declare_topology,
        publish_export,
    )

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

    rod = merged_rod(root, Path(tempfile.mkdtemp(prefix="verzuim-demo-")) / "rod.json")
    sim = SimulatorServer(pki_dir, port=urlsplit(settings.duo.url).port or 443,
                          control_port=control_port, delay_behandeling=2.0,
                          delay_afgesloten=4.0, rod_file=rod)
    sim.start()
    say(f"demo: DUO simulator on {sim.soap_url} (control {sim.control_url})")
    conn = pika.BlockingConnection(connection_parameters(settings.amqp))
    channel = conn.channel()
    declare_topology(channel, settings.amqp)
    declare_event_tap(channel, settings.amqp, TAP_QUEUE)
    channel.queue_purge(TAP_QUEUE)
    daemon = Daemon(settings, environ=os.environ)
    daemon.start()
    say(f"demo: daemon started with vendors {', '.join(daemon.vendors.names())} "
        f"(store {db}, log {log_path})")
    watcher = Watcher(channel, settings, daemon.store)
    deadline = time.monotonic() + timeout
    try:
        for vendor, path in sample_files(root, set(daemon.vendors.names())):
            publish_export(settings.amqp, body=path.read_bytes(), vendor=vendor,
                           content_type="application/json" if path.suffix == ".json"
                           else "text/csv")
            say(f"demo: published    {vendor}/{path.name}")
            # The next file may amend this one: let it reach DUO first.
            time.sleep(0.5)
            _wait(lambda: _settled(daemon.store), watcher.poll, 30, conn.sleep)
        say("demo: waiting for the municipality to handle the reports")
        if not _wait(watcher.finished, watcher.poll, max(5.0, deadline - time.monotonic()),
                     conn.sleep):
            say(f"demo: timed out after {timeout:.0f}s; showing what arrived")
    finally:
        daemon.stop()
        sim.stop()
        conn.close()
        log_file.close()

    counts = watcher.counts
    say("")
    say(f"{'event':<13} {'vendor/source id':<34} {'meldingsnummer':<15} detail")
    for kind, source, nummer, detail in watcher.rows:
        say(f"{kind:<13} {source:<34} {nummer:<15} {detail}")
    say("")
    say(f"demo: registered={counts['registered']} rejected={counts['rejected']} "
        f"terugmeldingen={counts['terugmelding']} dead={watcher.dead}")
    ok = (counts["registered"] >= 3 and counts["rejected"] >= 1
          and counts["terugmelding"] >= 3 and watcher.dead >= 1)
    return 0 if ok else 1
