"""The ``eduarte`` vendor: hook implementation and the :class:`EduarteVendor` object.

Entry point (``setup.cfg``)::

    [options.entry_points]
    verzuim_adapter =
        eduarte = verzuim_eduarte.plugin

The school calendar (lesson times, holidays, school days) is the adapter's: it
arrives through the hook as a lookup per BRIN (``[school]``/``[[schools]]`` in the
adapter's configuration). ``[plugins.config.eduarte]`` keeps only what belongs to
the format (``count_late``), validated once, at registration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from adapter.domain.calendar import Calendars
from adapter.domain.model import (MappedRecord, MappedRegistratie, OutboundEvent,
                                  RowRejection)
from adapter.errors import ConfigError
from adapter.hookspecs import CalendarLookup, hookimpl

from verzuim_eduarte import __version__
from verzuim_eduarte.mapping import map_row
from verzuim_eduarte.parser import NativeRow, parse
from verzuim_eduarte.render import render

NAME = "eduarte"
PREFIX = f"plugins.config.{NAME}"
KEYS = ("count_late",)
#: Keys of earlier versions that are now the school calendar's (docs/configuration.md).
MOVED = {"lesuurindeling": "lessons", "holidays": "holidays", "school_days": "school_days"}


def count_late_from(config: Mapping[str, Any] | None) -> bool:
    """Validate ``[plugins.config.eduarte]``; ConfigError names the offending key."""
    config = dict(config or {})
    for key in sorted(config):
        if key in MOVED:
            raise ConfigError(f"{PREFIX}.{key}: moved to the school calendar, "
                              f"[school] {MOVED[key]} (docs/configuration.md)")
        if key not in KEYS:
            raise ConfigError(f"{PREFIX}.{key}: unknown key (known: {', '.join(KEYS)})")
    count_late = config.get("count_late", False)
    if not isinstance(count_late, bool):
        raise ConfigError(f"{PREFIX}.count_late: must be true or false")
    return count_late


class EduarteVendor:
    """Eduarte-style CSV in (registrations and reports), CSV events out.

    Stateless apart from immutable settings (``count_late``) and the school
    calendars: safe to call from several threads, and ``to_duo`` works on any
    chunk of parsed rows.
    """

    name = NAME
    version = __version__

    def __init__(self, config: Mapping[str, Any] | None = None,
                 calendars: CalendarLookup | None = None) -> None:
        """``calendars`` defaults to the adapter's default school calendar for every BRIN.

        :raises adapter.errors.ConfigError: a configuration key is invalid (named).
        """
        self.count_late = count_late_from(config)
        self.calendars: CalendarLookup = calendars if calendars is not None else Calendars()

    def parse(self, body: bytes, *, content_type: str | None
              ) -> Iterator[NativeRow | RowRejection]:
        """Stream the export: a NativeRow or RowRejection per data row.

        :raises adapter.errors.DecodeError: the body as a whole cannot be read.
        """
        return parse(body, content_type)

    def to_duo(self, records: Sequence[object]
               ) -> Iterator[MappedRecord | MappedRegistratie | RowRejection]:
        """Map rows from :meth:`parse`; RowRejections passed in are passed through."""
        for record in records:
            if isinstance(record, RowRejection):
                yield record
            elif isinstance(record, NativeRow):
                yield from map_row(record, self.calendars, self.count_late)
            else:
                raise TypeError("eduarte.to_duo takes the rows of eduarte.parse")

    def from_duo(self, event: OutboundEvent) -> tuple[bytes, str]:
        """Render an event as a CSV file (``text/csv; charset=utf-8``)."""
        return render(event)


@hookimpl
def adapter_register_vendors(register: Callable[[str, EduarteVendor], None],
                             config: Mapping[str, Mapping[str, Any]],
                             calendars: CalendarLookup) -> None:
    """Register the ``eduarte`` vendor with its settings and the schools' calendars."""
    register(NAME, EduarteVendor(config.get(NAME, {}), calendars))
