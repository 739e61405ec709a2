"""The contract between verzuim-adapter and its vendor plugins (pluggy): the hooks
and the :class:`Vendor` protocol a registered vendor implements.

A leaf: it imports only the canonical model (:mod:`adapter.domain.model`), so a
plugin can depend on it without pulling in the daemon. The school calendar a plugin
is handed is described here as protocols (:class:`CalendarLookup`,
:class:`SchoolCalendarView`); :mod:`adapter.domain.calendar` implements them.

A plugin is a module or object with functions decorated by :data:`hookimpl`,
made known through the entry-point group ``verzuim_adapter``::

    # setup.cfg of the plugin distribution
    [options.entry_points]
    verzuim_adapter =
        eduarte = verzuim_eduarte.plugin

Plugins import the markers from here, never from pluggy directly::

    from adapter.hookspecs import hookimpl

Every hook is called with keyword arguments only. An implementation may take
fewer arguments than the spec (so new arguments can be added without breaking
plugins), but not other names: a misspelt hook or argument makes start-up
fail (``PluginManager.check_pending``). The reference with examples is
``docs/plugin-hooks.md``; a test fails when a hook here has no section there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

from adapter.domain.model import (
    MappedRecord,
    MappedRegistratie,
    OutboundEvent,
    RowRejection,
)

if TYPE_CHECKING:
    import click

PROJECT = "verzuim_adapter"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@runtime_checkable
class Vendor(Protocol):
    """One SIS vendor's mapping between its native export and the canonical model.

    Implementations must be stateless between calls (the daemon calls them
    from several threads) and must never log, print or put record values into
    exception messages: name the position, field and rule instead.
    """

    name: str
    version: str

    def parse(self, body: bytes, *, content_type: str | None) -> Iterable[object]:
        """Read one message body into native records.

        Yields plugin-defined native records (each carrying its position, e.g.
        ``row 7`` or ``$.meldingen[2]``) and :class:`RowRejection` for rows that
        cannot be read. Raises :class:`adapter.errors.DecodeError` when the
        whole body cannot be decoded (not UTF-8, not JSON/CSV, wrong shape).
        """
        ...

    def to_duo(self, records: Sequence[object]
               ) -> Iterable[MappedRecord | MappedRegistratie | RowRejection]:
        """Map native records (from :meth:`parse`) to the canonical model.

        Yields a :class:`MappedRecord` (position + Verzuimmelding) per report, a
        :class:`MappedRegistratie` per absence registration and school day (the
        adapter fills reports' verzuimdagspecificatie from them), or a
        :class:`RowRejection` naming the (field, rule) pairs that prevent
        mapping. The adapter applies DUO's rules afterwards; a plugin need not.
        """
        ...

    def from_duo(self, event: OutboundEvent) -> tuple[bytes, str]:
        """Render an event for the SIS: ``(body, content_type)`` in the vendor's own shape."""
        ...


@runtime_checkable
class SchoolCalendarView(Protocol):
    """What a plugin may ask of one school's calendar (implemented by
    :class:`adapter.domain.calendar.SchoolCalendar`; pure and thread-safe).

    Lessons are numbered 1, 2, … and given as local wall-clock times
    (Europe/Amsterdam), one table for every school day; clock intervals are in
    minutes since local midnight (``24 * 60`` for midnight at the end of the day).
    """

    def is_school_day(self, day: date) -> bool:
        """A school weekday of this school outside its holidays (region's and own)."""
        ...

    def lessons_in_day(self, day: date) -> int:
        """Lessons scheduled on ``day`` (0 when it is no school day): ``lessons_in_day``."""
        ...

    def lessons_overlapping(self, start: float, end: float) -> tuple[tuple[int, int], ...]:
        """``(number, minutes)`` per lesson the interval ``[start, end)`` overlaps by at
        least one whole minute, the overlap rounded down to whole minutes."""
        ...

    def lessons_numbered(self, first: int, last: int) -> tuple[tuple[int, int], ...] | None:
        """``(number, minutes)`` of lessons ``first`` … ``last``; None when a number is
        not in the school's lesson table."""
        ...

    def school_week(self, day: date) -> tuple[int, int] | None:
        """ISO ``(year, week)`` of ``day`` when the week has a school day, else None."""
        ...


@runtime_checkable
class CalendarLookup(Protocol):
    """The school calendar per BRIN (implemented by :class:`adapter.domain.calendar.Calendars`)."""

    def for_brin(self, brin: str) -> SchoolCalendarView:
        """The calendar of the school with this BRIN. A BRIN the adapter does not serve
        gets the default school's calendar: its rows are rejected by the adapter later."""
        ...


@hookspec
def adapter_register_vendors(register: Callable[[str, Vendor], None],
                             config: Mapping[str, Mapping[str, Any]],
                             calendars: CalendarLookup) -> None:
    """Register the vendor mappings this plugin provides.

    :param register: call ``register(name, vendor)`` once per vendor. ``name``
        is the vendor name used in routing keys (``<vendor>.<kind>`` in,
        ``<vendor>.<brin>.<event>`` out): lower case ``[a-z][a-z0-9_-]*``, equal
        to ``vendor.name``. ``vendor`` implements :class:`Vendor` (above).
    :param config: read-only settings per vendor name, from the adapter's
        configuration file (``[plugins.config.<vendor>]``), for matters of the
        vendor's format (e.g. whether its lateness code counts as absence);
        ``config.get(name, {})`` for yours. Validate it here and raise
        ``adapter.errors.ConfigError`` naming the key when it is wrong. An
        implementation may leave this argument out.
    :param calendars: the school calendar per BRIN (:class:`CalendarLookup`),
        built once from ``[school]``/``[[schools]]`` (region holidays, the
        school's own days off, lesson times, school days). Map each row with
        ``calendars.for_brin(<the row's BRIN>)``: in a deployment for several
        schools each has its own. Keep the lookup, not one calendar. An
        implementation that needs no calendar may leave this argument out.
    :return: nothing; the return value is ignored.

    When called: once per process at start-up, by
    :func:`adapter.vendors.load_vendors`, after every plugin was registered and
    ``check_pending`` passed; each plugin's implementation is called on its own
    so a duplicate name can be attributed.

    A plugin must not: register a name another plugin already uses (start-up
    fails with ConfigError naming both plugins); do I/O, open connections or
    read the environment here (configuration reaches the plugin through the
    adapter); log or keep any record data.
    """


@hookspec
def adapter_register_commands(cli: click.Group) -> None:
    """Add plugin-specific commands to the ``verzuim-adapter`` command line.

    :param cli: the top-level click group; add commands with
        ``@cli.command()`` or ``cli.add_command(command)``.
    :return: nothing; the return value is ignored.

    When called: once when the console script starts, before the arguments
    are parsed, by :func:`adapter.vendors.register_commands`.

    A plugin must not: replace or remove existing commands (prefix its own with
    the vendor name, e.g. ``eduarte-check``); do slow work or I/O at
    registration (do it inside the command); print anything at registration.
    """
