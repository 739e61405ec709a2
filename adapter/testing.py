"""The plugin author's kit: factories, a fake DUO, log capture and the conformance suite.

Everything a vendor plugin's own tests need, without a broker::

    from adapter.testing import run_conformance

    def test_conformance():
        run_conformance(MyVendor(), samples=sorted(SAMPLES.glob("0*.json")),
                        bad_samples=[SAMPLES / "corrupt.json"])

- :func:`make_melding`, :func:`make_registratie`, :func:`valid_bsn`: valid records.
- :class:`FakeDuo`: a scripted DUO client for pure-logic tests (no network).
- :func:`registered_plugin`: a vendor registry holding just your plugin, for one test.
- :func:`capture_log_lines`: every log line as the daemon would render it (JSON,
  after redaction), to assert that nothing personal leaks.
- :func:`run_conformance`: the checks every plugin must pass (``docs/writing-plugins.md``).
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from adapter.domain.model import (MappedRecord, MappedRegistratie, Melder, Registratie,
                                  RowRejection, Status, Student, Terugmelding, Verzuimdag,
                                  Verzuimmelding, Verzuimsoort)
from adapter.errors import DuoRejected
from adapter.plugins import Vendor, VendorRegistry, load_vendors

__all__ = [
    "ConformanceReport", "FakeDuo", "capture_log_lines", "make_melding", "make_registratie",
    "map_export", "personal_values", "registered_plugin", "run_conformance", "valid_bsn",
]


def valid_bsn(rng: random.Random | None = None) -> str:
    """A random 9-digit number that passes the 11-proef (fictional)."""
    rng = rng or random.Random()
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        check = sum(w * d for w, d in zip(range(9, 1, -1), digits)) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def make_melding(**overrides: Any) -> Verzuimmelding:
    """A report that passes every DUO rule; override any field."""
    values: dict[str, Any] = dict(
        source_id="test-1", brin="00AA", student=Student(bsn=valid_bsn(random.Random(1))),
        verzuimsoort=Verzuimsoort.V3, begindatum=date(2025, 10, 6),
        einddatum=date(2025, 10, 10), vermoedelijke_reden="Spijbelen (test)",
        melder=Melder(naam="Test Melder", emailadres="melder@school.test"),
        verzuimdagen=(Verzuimdag(date(2025, 10, 6), hele_dag=True),))
    values.update(overrides)
    return Verzuimmelding(**values)


def make_registratie(**overrides: Any) -> Registratie:
    """An unauthorised registration of two lessons; override any field."""
    values: dict[str, Any] = dict(
        source_id="reg-1", brin="00AA", student=Student(bsn=valid_bsn(random.Random(1))),
        datum=date(2025, 10, 6), lesuren=(1, 2), lessons_in_day=8)
    values.update(overrides)
    return Registratie(**values)


@dataclass
class FakeDuo:
    """A DUO client stand-in: registers everything unless told to reject a source id.

    For pure-logic tests only; the conformance suite talks to the real simulator.
    """

    reject: dict[str, tuple[str, str]] = field(default_factory=dict)
    sent: list[tuple[str, str]] = field(default_factory=list)   # (operation, source_id)
    _next: int = 100001

    def _result(self, operation: str, melding: Verzuimmelding) -> Any:
        from adapter.duo.client import SubmitResult
        self.sent.append((operation, melding.source_id))
        if melding.source_id in self.reject:
            raise DuoRejected([self.reject[melding.source_id]])
        self._next += 1
        return SubmitResult(str(self._next), Status.R, datetime.now(UTC))

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> Any:
        return self._result("aanleveren", melding)

    def wijzigen(self, melding: Verzuimmelding, *, meldingsnummer: str, document_id: str,
                 laatste_mutatie: datetime | None = None) -> Any:
        return self._result("wijzigen", melding)

    def intrekken(self, melding: Verzuimmelding, *, meldingsnummer: str,
                  document_id: str) -> Any:
        return self._result("intrekken", melding)

    def opvragen(self, **_: Any) -> Terugmelding | None:
        return None


@contextmanager
def registered_plugin(plugin: object, *, config: dict[str, Any] | None = None
                      ) -> Iterator[VendorRegistry]:
    """A vendor registry with the built-in vendor and ``plugin`` only (no entry points)."""
    yield load_vendors(entry_points=False, plugins=[plugin], config=config or {})


@contextmanager
def capture_log_lines(level: str = "debug") -> Iterator[list[str]]:
    """Collect every rendered log line (JSON, redacted) written inside the block."""
    from adapter.logging import configure_logging
    buffer = io.StringIO()
    lines: list[str] = []
    configure_logging(level, "json", stream=buffer)
    try:
        yield lines
    finally:
        lines.extend(buffer.getvalue().splitlines())
        configure_logging("warning", "json")


def map_export(vendor: Vendor, body: bytes, content_type: str | None = None
               ) -> list[MappedRecord | MappedRegistratie | RowRejection]:
    """What the daemon gets from one export: parse, then to_duo on the natives."""
    natives: list[object] = []
    out: list[MappedRecord | MappedRegistratie | RowRejection] = []
    for native in vendor.parse(body, content_type=content_type):
        (out.append(native) if isinstance(native, RowRejection) else natives.append(native))
    out.extend(vendor.to_duo(natives))
    return out


_PERSONAL_FIELDS = ("bsn", "onderwijsnummer", "achternaam", "voornamen", "naam", "emailadres",
                    "telefoonnummer", "vermoedelijke_reden", "toelichting",
                    "toelichting_actie_ondernomen", "toelichting_actie_gewenst")


def personal_values(mapped: Sequence[object]) -> set[str]:
    """The personal values in mapped records: identifiers, names, contact data, texts."""
    found: set[str] = set()

    def take(obj: object) -> None:
        for name in _PERSONAL_FIELDS:
            value = getattr(obj, name, None)
            if isinstance(value, str) and len(value) >= 4:
                found.add(value)

    for item in mapped:
        if isinstance(item, MappedRecord):
            for part in (item.melding, item.melding.student, item.melding.melder):
                take(part)
        elif isinstance(item, MappedRegistratie):
            take(item.registratie.student)
    return found


@dataclass
class ConformanceReport:
    """What :func:`run_conformance` saw, for further assertions by the caller."""

    reports: int = 0
    registraties: int = 0
    rejections: int = 0
    registered: int = 0
    rejected_by_duo: int = 0
    events: dict[str, int] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)


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
    from adapter.conformance import check_bad_samples, check_mapping, round_trip
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
