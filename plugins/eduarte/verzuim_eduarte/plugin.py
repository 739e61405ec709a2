"""The ``eduarte`` vendor: hook implementation and the :class:`EduarteVendor` object.

Entry point (``setup.cfg``)::

    [options.entry_points]
    verzuim_adapter =
        eduarte = verzuim_eduarte.plugin

Configuration comes from ``[plugins.config.eduarte]`` (see
:mod:`verzuim_eduarte.schedule`) and is validated once, at registration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from adapter.domain.model import (MappedRecord, MappedRegistratie, OutboundEvent,
                                  RowRejection)
from adapter.hookspecs import hookimpl

from verzuim_eduarte import __version__
from verzuim_eduarte.mapping import map_row
from verzuim_eduarte.parser import NativeRow, parse
from verzuim_eduarte.render import render
from verzuim_eduarte.schedule import Schedule, load_schedule

NAME = "eduarte"


class EduarteVendor:
    """Eduarte-style CSV in (registrations and reports), CSV events out.

    Stateless apart from the immutable :class:`Schedule`: safe to call from
    several threads, and ``to_duo`` works on any chunk of parsed rows.
    """

    name = NAME
    version = __version__

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        """:raises adapter.errors.ConfigError: a configuration key is invalid (named)."""
        self.schedule: Schedule = load_schedule(config)

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
                yield from map_row(record, self.schedule)
            else:
                raise TypeError("eduarte.to_duo takes the rows of eduarte.parse")

    def from_duo(self, event: OutboundEvent) -> tuple[bytes, str]:
        """Render an event as a CSV file (``text/csv; charset=utf-8``)."""
        return render(event)


@hookimpl
def adapter_register_vendors(register: Callable[[str, EduarteVendor], None],
                             config: Mapping[str, Mapping[str, Any]]) -> None:
    """Register the ``eduarte`` vendor with the school's schedule from ``config``."""
    register(NAME, EduarteVendor(config.get(NAME, {})))
