"""The ``magister`` vendor: registration via the ``verzuim_adapter`` entry point.

The school calendar (lesson times, holidays, school days) is the adapter's: it
arrives through the hook as a lookup per BRIN (``[school]``/``[[schools]]`` in the
adapter's configuration). ``[plugins.config.magister]`` keeps only what belongs to
the format (``count_late``) and is validated at start-up (ConfigError naming the
key). The vendor object holds only immutable settings and the calendars, so it is
stateless and safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from adapter.domain.calendar import Calendars
from adapter.domain.model import MappedRecord, MappedRegistratie, OutboundEvent, RowRejection
from adapter.errors import ConfigError
from adapter.hookspecs import CalendarLookup, hookimpl

from verzuim_magister import __version__, mapping, parser, render

NAME = "magister"
KNOWN_KEYS = frozenset({"count_late"})
#: Keys of earlier versions that are now the school calendar's (docs/configuration.md).
MOVED = {"lesuurindeling": "lessons", "holidays": "holidays", "school_days": "school_days"}


def count_late_from(config: Mapping[str, Any] | None) -> bool:
    """Validate ``[plugins.config.magister]``; ConfigError names the key, never the value."""
    config = dict(config or {})
    for key in sorted(config):
        if key in MOVED:
            raise ConfigError(f"plugins.config.magister.{key} moved to the school calendar, "
                              f"[school] {MOVED[key]} (docs/configuration.md)")
        if key not in KNOWN_KEYS:
            raise ConfigError(f"plugins.config.magister: unknown key {key!r} "
                              f"(known: {', '.join(sorted(KNOWN_KEYS))})")
    count_late = config.get("count_late", False)
    if not isinstance(count_late, bool):
        raise ConfigError("plugins.config.magister.count_late must be true or false")
    return count_late


class MagisterVendor:
    """Magister-style JSON in (``Items`` and/or ``Meldingen``), Magister-style JSON events out."""

    name = NAME
    version = __version__

    def __init__(self, config: Mapping[str, Any] | None = None,
                 calendars: CalendarLookup | None = None) -> None:
        """``calendars`` defaults to the adapter's default school calendar for every BRIN."""
        self.count_late = count_late_from(config)
        self.calendars: CalendarLookup = calendars if calendars is not None else Calendars()

    def parse(self, body: bytes, *, content_type: str | None
              ) -> Iterator[parser.ItemRecord | parser.MeldingRecord | RowRejection]:
        """Stream the export: a checked record per entry, RowRejection per bad entry.

        Raises DecodeError when the body is not a UTF-8 JSON export object.
        """
        return parser.parse(body, content_type=content_type)

    def to_duo(self, records: Sequence[object]
               ) -> Iterator[MappedRecord | MappedRegistratie | RowRejection]:
        """Map any chunk of parsed records (each carries its student and BRIN)."""
        return mapping.to_duo(records, self.calendars, self.count_late)

    def from_duo(self, event: OutboundEvent) -> tuple[bytes, str]:
        """Render ``registered``/``rejected``/``terugmelding``/``failed`` as Magister-style JSON."""
        return render.render(event)


@hookimpl
def adapter_register_vendors(register: Callable[[str, MagisterVendor], None],
                             config: Mapping[str, Mapping[str, Any]],
                             calendars: CalendarLookup) -> None:
    """Register ``magister`` with ``[plugins.config.magister]`` and the schools' calendars."""
    register(NAME, MagisterVendor(config.get(NAME, {}), calendars))
