"""Native rows → the canonical model (``adapter.domain.model``).

- A report row → one :class:`MappedRecord` with an empty verzuimdagspecificatie
  (the adapter fills it from the registrations of the same student).
- A registration row → one :class:`MappedRegistratie` per school day it covers
  (weekends and holidays left out), ``source_id`` ``<Registratie-id>@<ISO date>``;
  school days and lesson numbers from the calendar of the row's school (``BRIN``),
  which the adapter hands the plugin (:class:`adapter.hookspecs.CalendarLookup`);
  ``hele_dag`` when every scheduled lesson of the day is covered. Rows that are
  not absence (a present or ``Nvt`` waarneming, lateness when ``count_late`` is
  off) and deleted rows become the same per-day ids with ``deleted=True``, so an
  earlier version stops counting.

Every row maps on its own: nothing is kept between rows or calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, time, timedelta
from typing import Any

from adapter.domain.model import (Bijlage, MappedRecord, MappedRegistratie, Melder, Registratie,
                                  RowRejection, Student, Verzuimmelding, Verzuimsoort)
from adapter.hookspecs import CalendarLookup, SchoolCalendarView

from verzuim_eduarte.parser import MELDING, NativeRow
from verzuim_eduarte.schema import REDENCODES

MAX_DAYS = 366  # a registration spanning more is a data error, not a year of absence
END_OF_DAY = 24 * 60

Mapped = MappedRecord | MappedRegistratie | RowRejection


def map_row(row: NativeRow, calendars: CalendarLookup, count_late: bool) -> Iterator[Mapped]:
    """Map one parsed row; see the module docstring."""
    if row.kind == MELDING:
        yield MappedRecord(row.position, report(row.values))
    else:
        yield from registrations(row, calendars.for_brin(row.values["BRIN"]), count_late)


def minutes_of(value: time | None, default: int) -> int:
    """Minutes since midnight; ``23:59`` means the end of the day (Eduarte's whole-day rows)."""
    if value is None:
        return default
    if (value.hour, value.minute) == (23, 59):
        return END_OF_DAY
    return value.hour * 60 + value.minute


def student(v: dict[str, Any]) -> Student:
    """BSN when present, otherwise the onderwijsnummer (DUO takes exactly one).

    Reports and registrations choose the same way, so the adapter can match them.
    ``Woongemeentecode`` (registrations export only) → ``gemeentecode``: the adapter
    uses it for regional agreements and never sends it to DUO.
    """
    bsn = v.get("BSN")
    return Student(bsn=bsn, onderwijsnummer=None if bsn else v.get("Onderwijsnummer"),
                   leerlingnummer=v.get("Deelnemernummer"), geboortedatum=v.get("Geboortedatum"),
                   gemeentecode=v.get("Woongemeentecode"))


def report(v: dict[str, Any]) -> Verzuimmelding:
    """A report row as a Verzuimmelding; DUO's content rules are checked by the adapter."""
    melder = Melder(naam=v.get("Melder naam") or "", emailadres=v.get("Melder e-mail") or "",
                    functie=v.get("Melder functie"), telefoonnummer=v.get("Melder telefoon"))
    return Verzuimmelding(
        source_id=v["Melding-id"], brin=v["BRIN"], student=student(v),
        verzuimsoort=Verzuimsoort(v["Verzuimsoort"]), begindatum=v["Begindatum"],
        einddatum=v.get("Einddatum"), vermoedelijke_reden=v.get("Vermoedelijke reden") or "",
        melder=melder, onderwijslocatiecode=v.get("Locatiecode"),
        toelichting=v.get("Toelichting"), actie_ondernomen=v.get("Actie ondernomen"),
        toelichting_actie_ondernomen=v.get("Toelichting actie"),
        toelichting_actie_gewenst=v.get("Actie gewenst"),
        alle_lessen_gemist=v.get("Alle lessen gemist"), vervolg_op=v.get("Vervolg op"),
        bijlagen=tuple(Bijlage(*entry) for entry in v.get("Bijlagen") or ()),
        modified_at=v["Gewijzigd op"], deleted=v.get("Verwijderd") is True)


def classify(v: dict[str, Any], count_late: bool) -> tuple[bool, bool | None, bool]:
    """``(is_absence, geoorloofd, luxe)`` of a registration row.

    The row's own ``Geoorloofd`` wins over the code list (the SIS copied it from
    the reason when the row was made); an unexplained absence stays ``None``.
    ``Verwijderd`` (removed from class) always counts as unauthorised.
    """
    code = v.get("Redencode")
    reden = REDENCODES.get(code) if code else None
    if v.get("Registratiesoort") == "Waarneming" and v.get("Waarnemingsoort") != "Afwezig":
        return False, None, False
    soort = v.get("Absentiesoort") or (reden.absentiesoort if reden else "Absent")
    luxe = bool(reden and reden.luxe)
    if soort == "Telaat" and not count_late:
        return False, None, False
    if soort == "Verwijderd":
        return True, False, luxe
    geoorloofd = v.get("Geoorloofd")
    if geoorloofd is None and reden is not None:
        geoorloofd = reden.geoorloofd
    return True, geoorloofd, luxe


def registrations(row: NativeRow, calendar: SchoolCalendarView, count_late: bool
                  ) -> Iterator[Mapped]:
    """One MappedRegistratie per school day of the row in its school's ``calendar``
    (or one RowRejection)."""
    v = row.values
    begin: date = v["Begindatum"]
    modified = v["Gewijzigd op"]
    # Open-ended (e.g. ill until reported better): known to last at least until the
    # row was last changed; a later export with an Einddatum or newer stamp extends it.
    end: date = v.get("Einddatum") or max(begin, modified.date())
    if (end - begin).days >= MAX_DAYS:
        yield RowRejection(row.position, (("Einddatum", f"period longer than {MAX_DAYS} days"),),
                           source_id=v["Registratie-id"], brin=v["BRIN"])
        return
    who = student(v)
    is_absence, geoorloofd, luxe = classify(v, count_late)
    tombstone = v.get("Verwijderd") is True or not is_absence
    out: list[MappedRegistratie] = []
    day = begin
    while day <= end:
        if calendar.is_school_day(day):
            in_day = calendar.lessons_in_day(day)
            base = Registratie(source_id=f"{v['Registratie-id']}@{day.isoformat()}",
                               brin=v["BRIN"], student=who, datum=day,
                               lessons_in_day=in_day, modified_at=modified)
            if tombstone:
                out.append(MappedRegistratie(row.position, replace(base, deleted=True)))
            else:
                covered = _covered(v, day, calendar)
                if covered is None:
                    yield RowRejection(row.position, (("Eindlesuur", "lesuur not in the "
                                                       "configured lesuurindeling"),),
                                       source_id=v["Registratie-id"], brin=v["BRIN"])
                    return
                numbers, minutes = covered
                if numbers:
                    out.append(MappedRegistratie(row.position, replace(
                        base, lesuren=numbers, minuten=minutes, geoorloofd=geoorloofd, luxe=luxe,
                        hele_dag=len(numbers) == in_day)))
        day += timedelta(days=1)
    yield from out


def _covered(v: dict[str, Any], day: date, calendar: SchoolCalendarView
             ) -> tuple[tuple[int, ...], int] | None:
    """Lesson numbers and lesson minutes the row covers on ``day``; None: bad lesuur."""
    if v.get("Beginlesuur") is not None:
        found = calendar.lessons_numbered(v["Beginlesuur"], v["Eindlesuur"])
        if found is None:
            return None
        pairs = found
    else:
        start = minutes_of(v.get("Begintijd"), 0) if day == v["Begindatum"] else 0
        end = (minutes_of(v.get("Eindtijd"), END_OF_DAY) if day == v.get("Einddatum")
               else END_OF_DAY)
        pairs = calendar.lessons_overlapping(start, end)
    minutes = sum(overlap for _, overlap in pairs)
    numbers = tuple(number for number, _ in pairs)
    given_minutes = v.get("Minuten")
    if given_minutes is not None and v.get("Registratiesoort") == "Waarneming":
        # a waarneming states the lesson minutes it covers (a late arrival: fewer)
        minutes = given_minutes
    return numbers, minutes


