"""The conformance suite every vendor plugin passes: :func:`run_conformance`.

The round trip uses the daemon's real parts: :class:`~adapter.pipeline.intake.Intake`,
the SQLite store, the :class:`~adapter.pipeline.submitter.Submitter` and the DUO
client over two-way TLS to the simulator; only RabbitMQ is left out (deliveries
are handed to the intake directly). Those parts are imported when the round trip
runs, so ``adapter.testing`` stays light for a plugin's pure mapping tests.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.domain.model import MappedRecord, MappedRegistratie, RowRejection
from adapter.hookspecs import Vendor, hookimpl
from adapter.testing.kit import (
    ConformanceReport,
    capture_log_lines,
    map_export,
    personal_values,
)

if TYPE_CHECKING:
    from adapter.store import Store

SCHOOL_OIN = "00000099000000000001"
_CONTENT_TYPES = {".json": "application/json", ".csv": "text/csv"}


def _content_type(path: Path, given: str | None) -> str | None:
    return given or _CONTENT_TYPES.get(path.suffix.lower())


def check_mapping(vendor: Vendor, path: Path, content_type: str | None,
                  report: ConformanceReport
                  ) -> list[MappedRecord | MappedRegistratie | RowRejection]:
    """A good sample maps without rejections, and the same way twice."""
    body = path.read_bytes()
    first = map_export(vendor, body, _content_type(path, content_type))
    second = map_export(vendor, body, _content_type(path, content_type))
    assert first == second, f"{path.name}: mapping the same export twice differs"
    bad = [r for r in first if isinstance(r, RowRejection)]
    assert not bad, f"{path.name}: {len(bad)} row(s) rejected in a good sample: " + ", ".join(
        f"{r.position} {[f for f, _ in r.violations]}" for r in bad[:5])
    report.reports += sum(isinstance(r, MappedRecord) for r in first)
    report.registraties += sum(isinstance(r, MappedRegistratie) for r in first)
    return first


def check_bad_samples(vendor: Vendor, path: Path, content_type: str | None,
                      report: ConformanceReport) -> set[str]:
    """Bad rows are RowRejections with a position and rules, never carrying values."""
    mapped = map_export(vendor, path.read_bytes(), _content_type(path, content_type))
    rejections = [r for r in mapped if isinstance(r, RowRejection)]
    assert rejections, f"{path.name}: a bad sample produced no RowRejection"
    good = [r for r in mapped if not isinstance(r, RowRejection)]
    secrets = personal_values(good)
    for rej in rejections:
        assert rej.position, f"{path.name}: a RowRejection without a position"
        assert rej.violations, f"{path.name}: {rej.position} names no (field, rule)"
        text = " ".join(f"{f} {r}" for f, r in rej.violations)
        assert not any(v in text for v in secrets), (
            f"{path.name}: {rej.position} carries a value in its violations")
    report.rejections += len(rejections)
    return secrets


class _SinglePlugin:
    """Registers the vendor under test (no entry points, nothing else)."""

    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor

    @hookimpl
    def adapter_register_vendors(self, register: Any) -> None:
        register(self.vendor.name, self.vendor)


def _brin_of(vendor: Vendor, samples: Sequence[Path], content_type: str | None) -> str:
    brins = set()
    for path in samples:
        for item in map_export(vendor, path.read_bytes(), _content_type(path, content_type)):
            if isinstance(item, MappedRecord):
                brins.add(item.melding.brin)
            elif isinstance(item, MappedRegistratie):
                brins.add(item.registratie.brin)
    assert len(brins) == 1, f"conformance samples must use one BRIN, found {len(brins)}"
    return brins.pop()


def _control_json(base: str, path: str) -> Any:
    from urllib.request import urlopen
    with urlopen(f"{base}/{path}", timeout=10) as resp:  # noqa: S310 - loopback simulator
        return json.loads(resp.read())


def _settle(store: Store, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subs = store.counts()["submissions"]
        if not any(subs.get(s, 0) for s in ("pending", "submitting", "unknown")):
            return
        time.sleep(0.1)
    raise AssertionError(f"submissions did not settle within {timeout:.0f}s: {subs}")


def round_trip(vendor: Vendor, samples: Sequence[Path], *, rod_file: Path | None,
               config: dict[str, Any], content_type: str | None,
               report: ConformanceReport) -> None:
    """Samples through intake, store and submitter to the simulator, twice."""
    from adapter.config import load_settings
    from adapter.duo.client import DuoClient
    from adapter.pipeline.intake import Intake
    from adapter.pipeline.submitter import Submitter
    from adapter.pki.identity import load_credentials
    from adapter.pki.testpki import init_test_pki
    from adapter.simulator.server import SimulatorServer
    from adapter.sis.delivery import Delivery
    from adapter.store.keys import open_store
    from adapter.vendors import load_vendors

    brin = _brin_of(vendor, samples, content_type)
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        pki = Path(tmp) / "pki"
        init_test_pki(pki, school_oin=SCHOOL_OIN)
        with SimulatorServer(pki, port=0, control_port=0, delay_behandeling=None,
                             delay_afgesloten=None, rod_file=rod_file) as sim:
            settings = load_settings(None, overrides={
                "school": {"brin": brin, "oin": SCHOOL_OIN},
                "duo": {"url": sim.soap_url, "ca_bundle": str(pki / "trust-bundle.pem"),
                        "client_cert": str(pki / "school.pem"),
                        "client_key": str(pki / "school-key.pem"),
                        "signature_cert": str(pki / "duo.pem"), "read_timeout": 5.0,
                        "retry_base_seconds": 0.05, "retry_max_seconds": 0.2,
                        "max_attempts": 3},
                "store": {"url": f"sqlite:///{Path(tmp) / 'store.db'}"},
                "plugins": {"config": config}})
            registry = load_vendors(entry_points=False, plugins=[_SinglePlugin(vendor)],
                                    config=config)
            store = open_store(settings.store, {})
            client = DuoClient(settings.duo, settings.school,
                               credentials=load_credentials(settings.duo, environ={}),
                               exchange_sink=store.record_exchange)
            submitter = Submitter(settings.duo, store, client, idle_wait=0.05)
            stop = threading.Event()
            worker = threading.Thread(target=submitter.run, args=(stop,), daemon=True)
            worker.start()
            intake = Intake(settings, store, registry, on_committed=submitter.wake)
            try:
                for rounds in range(2):  # the second round must change nothing at DUO
                    for n, path in enumerate(samples):
                        delivery = Delivery(
                            body=path.read_bytes(), routing_key=f"{vendor.name}.export",
                            message_id=f"conformance-{rounds}-{n}",
                            content_type=_content_type(path, content_type), headers={},
                            redelivered=False, timestamp=None, delivery_tag=n + 1)
                        outcome = intake.handle(delivery)
                        assert outcome.action == "ack", f"{path.name}: {outcome}"
                        _settle(store, 30)
                    if rounds == 0:
                        ledger = _control_json(sim.control_url, "ledger")
                ledger_again = _control_json(sim.control_url, "ledger")
            finally:
                stop.set()
                worker.join(30)
                client.close()
            assert ledger == ledger_again, "publishing the samples again changed DUO's ledger"
            assert all(count == 1 for count in ledger.values()), "a document registered twice"
            subs = store.counts()["submissions"]
            assert not subs.get("failed"), f"{subs['failed']} submission(s) failed"
            report.registered = subs.get("done", 0)
            report.rejected_by_duo = subs.get("rejected", 0)
            for _, event in store.pending_events(limit=10_000):
                body, ctype = vendor.from_duo(event)
                assert isinstance(body, bytes) and body and ctype, (
                    f"from_duo rendered nothing for a {event.event} event")
                report.events[event.event] = report.events.get(event.event, 0) + 1
            store.close()


def run_conformance(vendor: Vendor, samples: Sequence[Path], *,
                    bad_samples: Sequence[Path] = (), rod_file: Path | None = None,
                    content_type: str | None = None, config: dict[str, Any] | None = None,
                    simulator: bool = True) -> ConformanceReport:
    """Check a vendor plugin the way the daemon will use it; AssertionError on failure.

    1. Every sample maps, twice with equal results (deterministic), with no
       rejected rows, and at least one report or registration overall.
    2. Every row of every ``bad_samples`` file that cannot be mapped is a
       RowRejection naming a position and (field, rule) pairs without values,
       and the good rows of those files still map.
    3. With ``simulator`` (default): the samples, in the given order, go through
       the daemon's intake, store and submitter to the DUO simulator over TLS and
       back: every report ends registered or rejected by DUO, no document is
       registered twice, publishing every sample again changes nothing at DUO,
       and ``from_duo`` renders every resulting event.
    4. No log line written meanwhile contains a personal value of the samples.
    """
    report = ConformanceReport()
    secrets: set[str] = set()
    with capture_log_lines() as lines:
        for path in samples:
            mapped = check_mapping(vendor, path, content_type, report)
            secrets |= personal_values(mapped)
        for path in bad_samples:
            secrets |= check_bad_samples(vendor, path, content_type, report)
        if simulator:
            round_trip(vendor, samples, rod_file=rod_file, config=config or {},
                       content_type=content_type, report=report)
    report.log_lines = lines
    assert report.reports + report.registraties > 0, "the samples map to nothing at all"
    leaked = sorted(v for v in secrets if any(v in line for line in lines))
    assert not leaked, f"{len(leaked)} personal value(s) of the samples appear in log lines"
    return report
