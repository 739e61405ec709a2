"""The value conventions of the Eduarte-style files, both directions.

Dates are ``dd-mm-jjjj``, times ``uu:mm`` and date-times ``dd-mm-jjjj uu:mm:ss``,
all in local Dutch time without an offset; booleans are ``J``/``N``; an empty
field means unknown or not applicable. Readers return ``(value, None)`` or
``(None, rule)``: the rule names what was expected, never what was found.
Writers produce the file form of a value, or ``""`` for ``None``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
BOM = "\ufeff"

_DATE = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
_DATETIME = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")

RULE_DATE = "not a valid date (dd-mm-jjjj)"
RULE_TIME = "not a valid time (uu:mm)"
RULE_DATETIME = "not a valid date-time (dd-mm-jjjj uu:mm:ss)"
RULE_JN = "must be J or N"


def read_date(text: str) -> tuple[date | None, str | None]:
    """``dd-mm-jjjj`` → date; impossible dates (31-02-2025) are a rule violation."""
    m = _DATE.fullmatch(text)
    if not m:
        return None, RULE_DATE
    try:
        return date(int(m[3]), int(m[2]), int(m[1])), None
    except ValueError:
        return None, RULE_DATE


def read_time(text: str) -> tuple[time | None, str | None]:
    """``uu:mm`` (00:00–23:59) → time."""
    m = _TIME.fullmatch(text)
    if not m:
        return None, RULE_TIME
    try:
        return time(int(m[1]), int(m[2])), None
    except ValueError:
        return None, RULE_TIME


def read_datetime(text: str) -> tuple[datetime | None, str | None]:
    """``dd-mm-jjjj uu:mm:ss`` local time → aware datetime (Europe/Amsterdam).

    In the repeated hour of the autumn switch (26-10-2025 02:00–03:00) the first
    occurrence (summer time, ``fold=0``) is taken: the file carries no offset.
    """
    m = _DATETIME.fullmatch(text)
    if not m:
        return None, RULE_DATETIME
    try:
        naive = datetime(int(m[3]), int(m[2]), int(m[1]), int(m[4]), int(m[5]), int(m[6]))
    except ValueError:
        return None, RULE_DATETIME
    return naive.replace(tzinfo=AMSTERDAM), None


def read_jn(text: str) -> tuple[bool | None, str | None]:
    """``J`` → True, ``N`` → False (capitals only, as the SIS writes them)."""
    if text == "J":
        return True, None
    if text == "N":
        return False, None
    return None, RULE_JN


def fmt_date(value: object) -> str:
    """A date, datetime or ISO string as ``dd-mm-jjjj``; ``""`` for None or unparsable."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return ""
    if isinstance(value, date):
        return value.strftime("%d-%m-%Y")
    return ""


def to_local(value: object) -> datetime | None:
    """An aware datetime or ISO 8601 string in Dutch local time.

    A naive value (no offset) is taken to be UTC, which is how the adapter keeps
    its timestamps; anything unparsable gives None.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(AMSTERDAM)


def fmt_datetime(value: object) -> str:
    """A timestamp as local ``dd-mm-jjjj uu:mm:ss``; ``""`` for None or unparsable."""
    local = to_local(value)
    return local.strftime("%d-%m-%Y %H:%M:%S") if local else ""


def fmt_jn(value: object) -> str:
    """True → ``J``, False → ``N``, anything else → ``""``."""
    if value is True:
        return "J"
    if value is False:
        return "N"
    return ""


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A whole file in the house style: UTF-8 with BOM, CRLF, ``;``, minimal ``"`` quoting."""
    buf = io.StringIO()
    buf.write(BOM)
    writer = csv.writer(buf, delimiter=";", quotechar='"', doublequote=True,
                        quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return buf.getvalue().encode("utf-8")
