"""Shared helpers for the magister plugin tests (pure logic: no broker or database needed).

A uniquely named module (not conftest) so it cannot clash with other plugins' test helpers.
"""

from __future__ import annotations

import json
from pathlib import Path
from datetime import date
from typing import Any

from adapter.domain.calendar import Calendars, SchoolCalendar
from adapter.domain.model import MappedRecord, MappedRegistratie, RowRejection
from verzuim_magister.plugin import MagisterVendor

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
EXAMPLE = SAMPLES / "sis-systems-6.2-voorbeeld.json"
DEMO = sorted(p for p in SAMPLES.glob("[0-9][0-9]-*.json"))

#: The lesson table the Magister samples were written for: the §6.2 sample's lessons
#: 1–4 (a 15-minute break after lesson 3), extended to 8 lessons with a 30-minute
#: lunch after lesson 5. The adapter's default table is another school's (§6.1), so
#: the tests configure this one, as a school would in ``[school] lessons``.
LESSONS = ("08:30-09:20", "09:20-10:10", "10:10-11:00", "11:15-12:05",
           "12:05-12:55", "13:25-14:15", "14:15-15:05", "15:05-15:55")
CALENDARS = Calendars(default=SchoolCalendar.build(region="midden", lessons=LESSONS))


def vendor_for(config: dict[str, Any] | None = None,
               calendars: Calendars = CALENDARS) -> MagisterVendor:
    """The vendor as the adapter builds it for the samples' school."""
    return MagisterVendor(config or {}, calendars)


def run(vendor: MagisterVendor, body: bytes, content_type: str | None = "application/json"
        ) -> tuple[list[MappedRegistratie], list[MappedRecord], list[RowRejection]]:
    """parse + to_duo, split by kind."""
    natives = list(vendor.parse(body, content_type=content_type))
    mapped = list(vendor.to_duo(natives))
    regs = [m for m in mapped if isinstance(m, MappedRegistratie)]
    reports = [m for m in mapped if isinstance(m, MappedRecord)]
    rejections = [m for m in mapped if isinstance(m, RowRejection)]
    assert len(regs) + len(reports) + len(rejections) == len(mapped)
    return regs, reports, rejections


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def minimal_export(items: list[dict[str, Any]] | None = None,
                   meldingen: list[dict[str, Any]] | None = None,
                   leerlingen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Export": {"Brin": "00AA", "Vestiging": "00"},
        "Leerlingen": leerlingen if leerlingen is not None else [
            {"Stamnummer": "1", "Bsn": "999976011", "Onderwijsnummer": None,
             "Geboortedatum": "2010-04-22"}],
    }
    if items is not None:
        doc["Items"] = items
    if meldingen is not None:
        doc["Meldingen"] = meldingen
    return doc


def an_item(id_: int = 1, start: str = "2025-11-03T07:30:00Z", end: str = "2025-11-03T08:20:00Z",
            **changes: Any) -> dict[str, Any]:
    """A valid unauthorised absence (lesuur 1 on Monday 3 Nov 2025, CET) with changes."""
    afspraak = {"Id": 9, "Start": start, "Einde": end, "LesuurVan": 1, "LesuurTotMet": 1,
                "Type": 13, "Status": 1, "Omschrijving": "x", "Vakken": [{"Naam": "x"}]}
    afspraak.update(changes.pop("Afspraak", {}))
    item = {"Id": id_, "Stamnummer": "1", "Start": start, "Eind": end, "Lesuur": 1,
            "AfspraakId": 9, "Code": "A", "Omschrijving": "Absent zonder reden",
            "Verantwoordingtype": 1, "Geoorloofd": False, "LuxeVerzuim": False,
            "Afgehandeld": True, "Opmerking": None, "GewijzigdOp": "2025-11-03T10:00:00Z",
            "Verwijderd": False, "Afspraak": afspraak}
    item.update(changes)
    return item


def a_melding(id_: int | str = 500, **changes: Any) -> dict[str, Any]:
    m = {"Id": id_, "Stamnummer": "1", "Verzuimsoort": "16UUR", "Begindatum": "2025-11-03",
         "Einddatum": "2025-11-07", "VermoedelijkeReden": "Testreden Populierendreef",
         "Toelichting": None, "ActieOndernomen": True, "ToelichtingActie": "Gesprek",
         "ActieGewenst": None, "AlleLessenGemist": False,
         "Melder": {"Naam": "Testmelder Wilgenhof", "Functie": "Mentor", "Telefoon": "0201234567",
                    "Email": "melder@school-00aa.test"},
         "VervolgOp": None, "Bijlagen": [], "Locatiecode": None,
         "GewijzigdOp": "2025-11-10T08:00:00Z", "Verwijderd": False}
    m.update(changes)
    return m


_ITEM = ('{{"Id": {id}, "Stamnummer": "{stam}", "Start": "2025-11-{d:02d}T07:30:00Z", '
         '"Eind": "2025-11-{d:02d}T09:10:00Z", "Lesuur": 1, "AfspraakId": {id}, "Code": "A", '
         '"Omschrijving": "Absent zonder reden", "Verantwoordingtype": 1, "Geoorloofd": false, '
         '"LuxeVerzuim": false, "Afgehandeld": true, "Opmerking": "Generated Beukenlaan {id}", '
         '"GewijzigdOp": "2025-11-{d:02d}T10:05:12Z", "Verwijderd": false, "Afspraak": {{'
         '"Id": {id}, "Start": "2025-11-{d:02d}T07:30:00Z", "Einde": "2025-11-{d:02d}T09:10:00Z", '
         '"LesuurVan": 1, "LesuurTotMet": 2, "Type": 13, "Status": 1, '
         '"Omschrijving": "pv - E1B - mka", "Vakken": [{{"Naam": "Praktijkvaardigheden"}}]}}}}')
_SCHOOL_DAYS_NOV = [d for d in range(3, 29) if date(2025, 11, d).isoweekday() <= 5]


def generate_export(target_bytes: int, students: int = 500) -> tuple[bytes, int]:
    """A Magister-style export of about ``target_bytes``: (body, number of items).

    Leerlingen come last, so the parser's two-pass handling is exercised too.
    """
    import io
    out = io.BytesIO()
    out.write(b'{"Export": {"Brin": "00AA", "Vestiging": "00"}, "Items": [')
    n = 0
    while out.tell() < target_bytes:
        if n:
            out.write(b",\n")
        out.write(_ITEM.format(id=1_000_000 + n, stam=str(50_000 + n % students),
                               d=_SCHOOL_DAYS_NOV[n % len(_SCHOOL_DAYS_NOV)]).encode())
        n += 1
    out.write(b'], "Leerlingen": [')
    out.write(b",".join(json.dumps({"Stamnummer": str(50_000 + s), "Bsn": "999976011",
                                    "Onderwijsnummer": None, "Geboortedatum": "2010-04-22"}
                                   ).encode() for s in range(students)))
    out.write(b'], "Volgende": null}')
    return out.getvalue(), n


def consume(vendor: object, body: bytes, chunk: int = 1000) -> dict[str, int]:
    """Parse and map in chunks as the daemon does, keeping only counts."""
    counts = {"registraties": 0, "reports": 0, "rejections": 0}
    batch: list[object] = []

    def flush() -> None:
        for m in vendor.to_duo(batch):  # type: ignore[attr-defined]
            key = ("registraties" if isinstance(m, MappedRegistratie) else
                   "reports" if isinstance(m, MappedRecord) else "rejections")
            counts[key] += 1
        batch.clear()

    for native in vendor.parse(body, content_type="application/json"):  # type: ignore[attr-defined]
        if isinstance(native, RowRejection):
            counts["rejections"] += 1
            continue
        batch.append(native)
        if len(batch) >= chunk:
            flush()
    flush()
    return counts
