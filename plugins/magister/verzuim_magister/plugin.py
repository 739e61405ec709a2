"""The ``magister`` vendor: registration via the ``verzuim_adapter`` entry point.

``[plugins.config.magister]`` is validated at start-up (ConfigError naming the key);
the vendor object holds only those immutable settings, so it is stateless and
safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from adapter.domain.model import MappedRecord, MappedRegistratie, OutboundEvent, RowRejection
from adapter.hookspecs import hookimpl

from verzuim_magister import __version__, mapping, parser, render
from verzuim_magister.schedule import Settings, settings_from_config

NAME = "magister"


class MagisterVendor:
    """Magister-style JSON in (``Items`` and/or ``Meldingen``), Magister-style JSON events out."""

    name = NAME
    version = __version__

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.settings: Settings = settings_from_config(config)

    def parse(self, body: bytes, *, content_type: str | None
              ) -> Iterator[parser.ItemRecord | parser.MeldingRecord | RowRejection]:
        """Stream the export: a checked record per entry, RowRejection per bad entry.

        Raises DecodeError when the body is not a UTF-8 JSON export object.
        """
        return parser.parse(body, content_type=content_type)

    def to_duo(self, records: Sequence[object]
               ) -> Iterator[MappedRecord | MappedRegistratie | RowRejection]:
        """Map any chunk of parsed records (each carries its student and BRIN)."""
        return mapping.to_duo(records, self.settings)

    def from_duo(self, event: OutboundEvent) -> tuple[bytes, str]:
        """Render ``registered``/``rejected``/``terugmelding``/``failed`` as Magister-style JSON."""
        return render.render(event)


@hookimpl
def adapter_register_vendors(register: Callable[[str, MagisterVendor], None],
                             config: Mapping[str, Mapping[str, Any]]) -> None:
    """Register ``magister`` with the settings of ``[plugins.config.magister]``."""
    register(NAME, MagisterVendor(config.get(NAME, {})))
