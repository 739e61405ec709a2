"""Helpers for a plugin's own tests: one registered plugin, log capture, mapping an
export as the daemon does, and the personal values a mapping produced."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from adapter.domain.model import MappedRecord, MappedRegistratie, RowRejection
from adapter.hookspecs import CalendarLookup, Vendor
from adapter.logging import configure_logging
from adapter.vendors import VendorRegistry, load_vendors

__all__ = ["ConformanceReport", "capture_log_lines", "map_export", "personal_values",
           "registered_plugin"]


@contextmanager
def registered_plugin(plugin: object, *, config: dict[str, Any] | None = None,
                      calendars: CalendarLookup | None = None) -> Iterator[VendorRegistry]:
    """A vendor registry with the built-in vendor and ``plugin`` only (no entry points).

    ``calendars`` is what the hook hands the plugin (default: the default school
    calendar for every BRIN); ``Settings.school_calendars()`` builds it from a
    configuration, :class:`adapter.domain.calendar.Calendars` directly.
    """
    yield load_vendors(entry_points=False, plugins=[plugin], config=config or {},
                       calendars=calendars)


@contextmanager
def capture_log_lines(level: str = "debug") -> Iterator[list[str]]:
    """Collect every rendered log line (JSON, redacted) written inside the block."""
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
