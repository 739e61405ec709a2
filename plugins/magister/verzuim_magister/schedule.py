"""The school's lesson schedule and calendar: lesuurindeling, holidays, school days.

Built once from ``[plugins.config.magister]`` by :func:`settings_from_config`
(invalid settings raise :class:`adapter.errors.ConfigError` naming the key, never
the value), then only read: a :class:`Settings` is immutable and thread-safe.

All clock times are local school time (Europe/Amsterdam); Magister's UTC
timestamps are converted before they are compared with the schedule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from adapter.errors import ConfigError

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MAX_LESUUR = 12

#: The §6.2 sample lesuurindeling (1–4), extended to 8 lessons: a 15-minute break
#: after lesson 3 (as in the sample), a 30-minute lunch after lesson 5.
DEFAULT_LESUURINDELING: tuple[str, ...] = (
    "08:30-09:20", "09:20-10:10", "10:10-11:00", "11:15-12:05",
    "12:05-12:55", "13:25-14:15", "14:15-15:05", "15:05-15:55",
)
#: Herfst- and kerstvakantie 2025/26 of sis-systems.md §6 (inclusive, weekends included).
DEFAULT_HOLIDAYS: tuple[tuple[str, date, date], ...] = (
    ("herfstvakantie", date(2025, 10, 18), date(2025, 10, 26)),
    ("kerstvakantie", date(2025, 12, 20), date(2026, 1, 4)),
)
DEFAULT_SCHOOL_DAYS: frozenset[int] = frozenset({1, 2, 3, 4, 5})  # ISO weekdays, Mon–Fri
KNOWN_KEYS = frozenset({"lesuurindeling", "holidays", "school_days", "count_late"})

_DAY_NAMES = {"ma": 1, "di": 2, "wo": 3, "do": 4, "vr": 5, "za": 6, "zo": 7,
              "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
_SLOT = re.compile(r"([0-2][0-9]):([0-5][0-9])\s*-\s*([0-2][0-9]):([0-5][0-9])")


@dataclass(frozen=True)
class Slot:
    """One lesson of the lesuurindeling: its number and local clock times."""

    lesuur: int
    begin: time
    end: time

    minutes: tuple[int, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # begin and end as minutes since local midnight, computed once
        object.__setattr__(self, "minutes", (self.begin.hour * 60 + self.begin.minute,
                                             self.end.hour * 60 + self.end.minute))


@dataclass(frozen=True)
class Holiday:
    naam: str
    van: date
    tot: date


@dataclass(frozen=True)
class Settings:
    """The plugin's validated settings (see the README, "Configuration")."""

    slots: tuple[Slot, ...]
    holidays: tuple[Holiday, ...]
    school_days: frozenset[int]
    count_late: bool = False

    def overlaps(self, start: datetime, end: datetime) -> tuple[list[int], int]:
        """Lesuren whose slot the local interval [start, end) overlaps (≥ 1 minute), and
        the minutes overlapped. ``start`` and ``end`` are Amsterdam wall-clock times of
        one day (see :func:`local`), so the comparison is in minutes since midnight."""
        first = start.hour * 60 + start.minute + start.second / 60
        last = end.hour * 60 + end.minute + end.second / 60
        found, total = [], 0
        for slot in self.slots:
            begin, finish = slot.minutes
            overlap = int(min(last, finish) - max(first, begin))
            if overlap > 0:
                found.append(slot.lesuur)
                total += overlap
        return found, total

    def is_school_day(self, day: date) -> bool:
        """A configured weekday outside every holiday."""
        if day.isoweekday() not in self.school_days:
            return False
        return not any(h.van <= day <= h.tot for h in self.holidays)

    @property
    def lessons_in_day(self) -> int:
        """Number of lessons scheduled on a school day (one lesuurindeling for every day)."""
        return len(self.slots)


def settings_from_config(config: Mapping[str, Any] | None) -> Settings:
    """Validate ``[plugins.config.magister]``; ConfigError names the offending key."""
    config = dict(config or {})
    unknown = sorted(set(config) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"plugins.config.magister: unknown key {unknown[0]!r} "
                          f"(known: {', '.join(sorted(KNOWN_KEYS))})")
    slots = _slots(config.get("lesuurindeling", DEFAULT_LESUURINDELING))
    holidays = (_holidays(config["holidays"]) if "holidays" in config
                else tuple(Holiday(*h) for h in DEFAULT_HOLIDAYS))
    school_days = (_school_days(config["school_days"]) if "school_days" in config
                   else DEFAULT_SCHOOL_DAYS)
    count_late = config.get("count_late", False)
    if not isinstance(count_late, bool):
        raise ConfigError("plugins.config.magister.count_late must be true or false")
    return Settings(slots=slots, holidays=holidays, school_days=school_days,
                    count_late=count_late)


def _error(key: str, rule: str) -> ConfigError:
    return ConfigError(f"plugins.config.magister.{key} {rule}")


def _slots(raw: object) -> tuple[Slot, ...]:
    """A list ``["08:30-09:20", …]`` (lesuur = position) or a table ``{"1" = "08:30-09:20"}``."""
    key = "lesuurindeling"
    if isinstance(raw, Mapping):
        pairs = []
        for k, v in raw.items():
            if not (isinstance(k, (str, int)) and str(k).isdigit()):
                raise _error(key, "keys must be lesson numbers 1-12")
            pairs.append((int(k), v))
    elif isinstance(raw, (list, tuple)):
        pairs = list(enumerate(raw, start=1))
    else:
        raise _error(key, "must be a list of \"HH:MM-HH:MM\" strings or a table of them")
    if not pairs:
        raise _error(key, "must name at least one lesson")
    slots = []
    for lesuur, text in sorted(pairs):
        where = f"{key}[{lesuur}]"
        if not 1 <= lesuur <= MAX_LESUUR:
            raise _error(where, "lesson numbers must be 1-12")
        match = _SLOT.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise _error(where, "must look like \"HH:MM-HH:MM\"")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or (h2, m2) <= (h1, m1):
            raise _error(where, "must be a valid time range, end after begin")
        slots.append(Slot(lesuur, time(h1, m1), time(h2, m2)))
    if [slot.lesuur for slot in slots] != list(range(1, len(slots) + 1)):
        # DUO's lesuren and the adapter's "lessons_in_day" both count 1..n
        raise _error(key, "lesson numbers must run 1, 2, 3, … without gaps")
    for before, after in zip(slots, slots[1:]):
        if after.begin < before.end:
            raise _error(f"{key}[{after.lesuur}]", "overlaps the previous lesson")
    return tuple(slots)


def _date(value: object, key: str) -> date:
    if isinstance(value, datetime):
        raise _error(key, "must be a date, not a date-time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _error(key, "must be a date YYYY-MM-DD")


def _holidays(raw: object) -> tuple[Holiday, ...]:
    """A list of tables ``{naam, van, tot}`` (inclusive) or single dates (a vrije dag)."""
    if not isinstance(raw, (list, tuple)):
        raise _error("holidays", "must be a list of {naam, van, tot} tables or dates")
    out = []
    for i, entry in enumerate(raw):
        where = f"holidays[{i}]"
        if isinstance(entry, Mapping):
            extra = set(entry) - {"naam", "van", "tot"}
            if extra or "van" not in entry:
                raise _error(where, "takes the keys naam, van and tot (van required)")
            van = _date(entry["van"], f"{where}.van")
            tot = _date(entry.get("tot", entry["van"]), f"{where}.tot")
            naam = entry.get("naam", "vakantie")
            if not isinstance(naam, str):
                raise _error(f"{where}.naam", "must be a string")
        else:
            van = tot = _date(entry, where)
            naam = "vrije dag"
        if tot < van:
            raise _error(f"{where}.tot", "must not lie before van")
        out.append(Holiday(naam, van, tot))
    return tuple(out)


def _school_days(raw: object) -> frozenset[int]:
    """ISO weekday numbers 1–7 or names (``ma``…``zo`` / ``mon``…``sun``)."""
    if not isinstance(raw, (list, tuple)) or not raw:
        raise _error("school_days", "must be a non-empty list of weekdays")
    days = set()
    for i, value in enumerate(raw):
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7:
            days.add(value)
        elif isinstance(value, str) and value.strip().lower() in _DAY_NAMES:
            days.add(_DAY_NAMES[value.strip().lower()])
        else:
            raise _error(f"school_days[{i}]", "must be 1-7 or a weekday name (ma, di, …)")
    return frozenset(days)


def local(moment: datetime) -> datetime:
    """An aware datetime in Europe/Amsterdam (daylight saving handled by zoneinfo)."""
    return moment.astimezone(AMSTERDAM)
