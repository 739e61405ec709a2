"""Large vendor exports of registrations, generated (for ``bench/intake.py`` and e2e tests).

Importable as ``bulk_exports`` (``tests/`` is on ``sys.path`` in the test run; the
bench adds it). Every row becomes exactly one registration through the vendor's
plugin with its default configuration: a lesson-hour absence on a school day of
2025/26 (weekends and the plugins' default holidays left out), unauthorised, of a
student with a valid (11-proef) test BSN. Ids are ``first_id + n``, so two exports
with different ``first_id`` never share a registration.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
BRIN = "00AA"
#: The plugins' default holidays (herfst- and kerstvakantie 2025/26), inclusive.
HOLIDAYS = ((date(2025, 10, 18), date(2025, 10, 26)), (date(2025, 12, 20), date(2026, 1, 4)))
#: Lesson hours of the plugins' default lesuurindelingen (number, local begin, end).
EDUARTE_LESSONS = ((1, "08:30", "09:15"), (2, "09:15", "10:00"), (3, "10:15", "11:00"),
                   (4, "11:00", "11:45"), (5, "12:15", "13:00"), (6, "13:00", "13:45"),
                   (7, "13:45", "14:30"), (8, "14:45", "15:30"))
MAGISTER_LESSONS = ((1, "08:30", "09:20"), (2, "09:20", "10:10"), (3, "10:10", "11:00"),
                    (4, "11:15", "12:05"), (5, "12:05", "12:55"), (6, "13:25", "14:15"),
                    (7, "14:15", "15:05"), (8, "15:05", "15:55"))
EDUARTE_HEADER = (
    "Registratie-id", "Registratiesoort", "Deelnemernummer", "BSN", "Onderwijsnummer",
    "Geboortedatum", "Woongemeentecode", "BRIN", "Vestiging", "Locatie", "Crebo", "Leerweg",
    "Niveau", "Begindatum", "Begintijd", "Einddatum", "Eindtijd", "Beginlesuur", "Eindlesuur",
    "Minuten", "Waarnemingsoort", "Redencode", "Reden", "Absentiesoort", "Geoorloofd",
    "Afgehandeld", "Opmerkingen", "Gewijzigd op", "Verwijderd")


def school_days(first: date = date(2025, 9, 1), last: date = date(2026, 7, 10)) -> list[date]:
    """Monday to Friday from ``first`` to ``last``, outside the default holidays."""
    days, day = [], first
    while day <= last:
        if day.isoweekday() <= 5 and not any(a <= day <= b for a, b in HOLIDAYS):
            days.append(day)
        day += timedelta(days=1)
    return days


DAYS = school_days()


def valid_bsns(count: int) -> list[str]:
    """``count`` distinct 9-digit numbers that pass the 11-proef (test range 9999xxxxx)."""
    found: list[str] = []
    candidate = 999_900_000
    while len(found) < count:
        digits = [int(c) for c in str(candidate)]
        total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1))) - digits[8]
        if total % 11 == 0:
            found.append(str(candidate))
        candidate += 1
    return found


def slot(n: int, students: int, lessons: int) -> tuple[int, date, int]:
    """Row ``n``'s (student, day, lesson): students round-robin, each filling its days."""
    student, k = n % students, n // students
    day_index, lesson = divmod(k, lessons)
    return student, DAYS[day_index % len(DAYS)], lesson


def eduarte_export(rows: int, students: int, *, first_id: int = 1) -> bytes:
    """An Eduarte-style CSV of ``rows`` waarneming rows (one lesson hour absent each)."""
    bsns = valid_bsns(students)
    out = io.StringIO()
    out.write("\ufeff" + ";".join(EDUARTE_HEADER) + "\r\n")
    for n in range(rows):
        s, day, lesson = slot(n, students, len(EDUARTE_LESSONS))
        number, begin, end = EDUARTE_LESSONS[lesson]
        d = day.strftime("%d-%m-%Y")
        out.write(f"WN-{first_id + n};Waarneming;{700000 + s};{bsns[s]};;12-05-2009;0344;{BRIN};"
                  f"00;Locatie Test;99011;BOL;2;{d};{begin};{d};{end};{number};{number};45;"
                  f"Afwezig;OZ;Afwezig zonder bericht;Absent;N;J;;{d} 16:00:00;N\r\n")
    return out.getvalue().encode("utf-8")


def _utc(day: date, clock: str) -> str:
    local = datetime.combine(day, time.fromisoformat(clock), tzinfo=AMSTERDAM)
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def magister_export(rows: int, students: int, *, first_id: int = 1) -> bytes:
    """A Magister-style JSON export of ``rows`` per-lesson items, Leerlingen last."""
    bsns = valid_bsns(students)
    out = io.StringIO()
    out.write('{"Export": {"Brin": "%s", "Vestiging": "00"}, "Items": [\n' % BRIN)
    for n in range(rows):
        s, day, lesson = slot(n, students, len(MAGISTER_LESSONS))
        number, begin, end = MAGISTER_LESSONS[lesson]
        start, stop = _utc(day, begin), _utc(day, end)
        ident = first_id + n
        out.write(("," if n else "") + (
            f'{{"Id": {ident}, "Stamnummer": "{50000 + s}", "Start": "{start}", '
            f'"Eind": "{stop}", "Lesuur": {number}, "AfspraakId": {ident}, "Code": "A", '
            f'"Verantwoordingtype": 1, "Geoorloofd": false, "LuxeVerzuim": false, '
            f'"Afgehandeld": true, "GewijzigdOp": "{_utc(day, "16:00")}", "Verwijderd": false, '
            f'"Afspraak": {{"Id": {ident}, "Start": "{start}", "Einde": "{stop}", '
            f'"LesuurVan": {number}, "LesuurTotMet": {number}, "Type": 13, "Status": 1}}}}\n'))
    out.write('], "Leerlingen": [')
    out.write(",".join(json.dumps({"Stamnummer": str(50000 + s), "Bsn": bsns[s],
                                   "Onderwijsnummer": None, "Geboortedatum": "2009-05-12"})
                       for s in range(students)))
    out.write("]}")
    return out.getvalue().encode("utf-8")


def export(vendor: str, rows: int, students: int, *, first_id: int = 1) -> tuple[bytes, str]:
    """(body, content type) of a generated export for ``vendor``."""
    if vendor == "eduarte":
        return eduarte_export(rows, students, first_id=first_id), "text/csv"
    if vendor == "magister":
        return magister_export(rows, students, first_id=first_id), "application/json"
    raise ValueError(f"no generator for vendor {vendor!r}")
