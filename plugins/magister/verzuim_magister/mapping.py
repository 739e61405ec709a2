"""Checked Magister records → the canonical model.

* An ``Items`` entry (one lesson-hour absence) → at most one
  :class:`MappedRegistratie`: its local date and the lesuren of the school's
  lesson table that the missed interval overlaps. School days and lessons come
  from the calendar of the record's school (BRIN), which the adapter hands the
  plugin (:class:`adapter.hookspecs.CalendarLookup`). Items on cancelled lessons
  (``Afspraak.Status`` 4/5), roostervrij (``Afspraak.Type`` 6), weekends and
  holidays, ``BV``/``HV`` (types 7/8, "present" 5) and — unless ``count_late`` —
  te laat (type 2) produce nothing. Authorised items are mapped with
  ``geoorloofd=True`` (stored by the adapter, never reported), so a code changed
  from ``A`` to ``Z`` in a later export stops counting.
* A ``Meldingen`` entry → one :class:`MappedRecord`; its verzuimdagen stay
  empty: the adapter fills them from the student's registrations.

Every function is pure: ``to_duo`` works on any chunk of records because each
record carries its student and BRIN (attached by the parser). Age is the
adapter's business: the birth date is passed on when the export has it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapter.domain.model import (Bijlage, MappedRecord, MappedRegistratie, Melder, Registratie,
                                  RowRejection, Student, Verzuimmelding, Verzuimsoort)
from adapter.hookspecs import CalendarLookup, SchoolCalendarView

from verzuim_magister.parser import ItemRecord, Leerling, MeldingRecord
from verzuim_magister.schema import CODES, VERZUIMSOORTEN

AMSTERDAM = ZoneInfo("Europe/Amsterdam")  # the school's clock; Magister stamps are UTC

CANCELLED = (4, 5)      # Afspraak.Status: (automatisch) vervallen
ROOSTERVRIJ = 6         # Afspraak.Type
TE_LAAT = 2
VRIJSTELLING = 6
NOT_ABSENCE = (5, 7, 8)  # Verantwoordingtype: present, boeken vergeten, huiswerk vergeten

Mapped = MappedRecord | MappedRegistratie | RowRejection


def to_duo(records: Iterable[object], calendars: CalendarLookup, count_late: bool
           ) -> Iterator[Mapped]:
    """Map each record; RowRejections pass through; unknown objects raise TypeError."""
    for record in records:
        if isinstance(record, RowRejection):
            yield record
        elif isinstance(record, ItemRecord):
            mapped = map_item(record, calendars.for_brin(record.brin), count_late)
            if mapped is not None:
                yield mapped
        elif isinstance(record, MeldingRecord):
            yield map_melding(record)
        else:
            raise TypeError("magister.to_duo takes the records of magister.parse")


def student_of(leerling: Leerling) -> Student:
    """BSN when known, else the onderwijsnummer (DUO takes exactly one).

    The Stamnummer becomes ``leerlingnummer``; the birth date is passed on when known;
    ``WoonGemeenteCode`` becomes ``gemeentecode`` (regional agreements; never sent to DUO).
    """
    return Student(bsn=leerling.bsn or None,
                   onderwijsnummer=None if leerling.bsn else leerling.onderwijsnummer,
                   leerlingnummer=leerling.stamnummer, geboortedatum=leerling.geboortedatum,
                   gemeentecode=leerling.woongemeentecode or None)


def local(moment: datetime) -> datetime:
    """An aware datetime in Europe/Amsterdam (daylight saving handled by zoneinfo)."""
    return moment.astimezone(AMSTERDAM)


def map_item(record: ItemRecord, calendar: SchoolCalendarView, count_late: bool
             ) -> MappedRegistratie | RowRejection | None:
    """One item → one registration on its local school day in its school's ``calendar``,
    or None when it does not count."""
    item, position = record.item, record.position
    start, end = local(item["Start"]), local(item["Eind"])
    if end.date() != start.date():
        return _reject(record, ("Eind", "must be on the same local day as Start"))
    if end <= start:
        return _reject(record, ("Eind", "must lie after Start"))
    student = student_of(record.leerling)
    base: dict[str, Any] = dict(source_id=str(item["Id"]), brin=record.brin, student=student,
                                datum=start.date(), modified_at=item["GewijzigdOp"],
                                luxe=bool(item["LuxeVerzuim"]))
    if item["Verwijderd"]:
        # A tombstone needs no lessons: the adapter drops the same id wherever it is.
        return MappedRegistratie(position, Registratie(**base, deleted=True))
    if not counts_at_all(item, count_late) or not calendar.is_school_day(start.date()):
        return None
    lesuren, minuten = lessons(start, end, calendar)
    if not lesuren:
        return _reject(record, ("Start", "lies outside every lesson of the lesuurindeling"))
    in_day = calendar.lessons_in_day(start.date())
    return MappedRegistratie(position, Registratie(
        **base, lesuren=tuple(lesuren), hele_dag=set(range(1, in_day + 1)) <= set(lesuren),
        lessons_in_day=in_day, minuten=minuten, geoorloofd=authorised(item)))


def counts_at_all(item: dict[str, Any], count_late: bool) -> bool:
    """False for items that are no absence from a held lesson (see the module docstring)."""
    afspraak = item["Afspraak"]
    vtype = item["Verantwoordingtype"]
    if afspraak["Status"] in CANCELLED or afspraak["Type"] == ROOSTERVRIJ:
        return False
    if vtype in NOT_ABSENCE or CODES.get(item["Code"], (0, True, False))[1] is None:
        return False
    return not (vtype == TE_LAAT and not count_late)


def authorised(item: dict[str, Any]) -> bool:
    """The item's own ``Geoorloofd`` flag (copied from the reason); a vrijstelling always is."""
    return bool(item["Geoorloofd"]) or item["Verantwoordingtype"] == VRIJSTELLING


def lessons(start: datetime, end: datetime, calendar: SchoolCalendarView
            ) -> tuple[list[int], int]:
    """Lesuren whose lesson the local interval [start, end) overlaps (≥ 1 whole minute),
    and the minutes overlapped. ``start`` and ``end`` are Amsterdam wall-clock times of
    one day (see :func:`local`), compared in minutes since midnight.

    A double lesson (``LesuurVan`` 1 – ``LesuurTotMet`` 2) missed as a whole covers
    both lessons and yields ``[1, 2]``, whatever ``Lesuur`` says.
    """
    first = start.hour * 60 + start.minute + start.second / 60
    last = end.hour * 60 + end.minute + end.second / 60
    pairs = calendar.lessons_overlapping(first, last)
    return [number for number, _ in pairs], sum(minutes for _, minutes in pairs)


def map_melding(record: MeldingRecord) -> MappedRecord | RowRejection:
    """One report record → one Verzuimmelding (DUO's rules are the adapter's to apply)."""
    m = record.melding
    melder = m["Melder"] or {}
    melding = Verzuimmelding(
        source_id=m["Id"], brin=record.brin, student=student_of(record.leerling),
        verzuimsoort=Verzuimsoort(VERZUIMSOORTEN[m["Verzuimsoort"]]),
        begindatum=m["Begindatum"], einddatum=m["Einddatum"],
        vermoedelijke_reden=m["VermoedelijkeReden"] or "",
        melder=Melder(naam=melder.get("Naam") or "", emailadres=melder.get("Email") or "",
                      functie=melder.get("Functie"), telefoonnummer=melder.get("Telefoon")),
        onderwijslocatiecode=m["Locatiecode"], toelichting=m["Toelichting"],
        actie_ondernomen=m["ActieOndernomen"], toelichting_actie_ondernomen=m["ToelichtingActie"],
        toelichting_actie_gewenst=m["ActieGewenst"], alle_lessen_gemist=m["AlleLessenGemist"],
        vervolg_op=m["VervolgOp"],
        bijlagen=tuple(Bijlage(b["Bestandsnaam"], b["MimeType"], b["Referentie"])
                       for b in m["Bijlagen"] or ()),
        modified_at=m["GewijzigdOp"], deleted=bool(m["Verwijderd"]))
    return MappedRecord(record.position, melding)


def _reject(record: ItemRecord, *violations: tuple[str, str]) -> RowRejection:
    return RowRejection(record.position,
                        tuple((f"{record.position}.{key}", rule) for key, rule in violations),
                        brin=record.brin)
