"""The school's lesson schedule and calendar: which lessons a registration covers.

Configured under ``[plugins.config.eduarte]`` (README, "Configuration"):

- ``lesuurindeling`` — list of ``"uu:mm-uu:mm"``, lesson 1 first (at most 12,
  increasing, not overlapping); default the §6.1 one (8 lessons, 08:30–15:30);
- ``holidays`` — list of ``["dd-mm-jjjj", "dd-mm-jjjj"]`` periods (inclusive);
  default herfstvakantie and kerstvakantie 2025/26;
- ``school_days`` — weekdays with lessons, ``"ma" … "zo"`` or ISO numbers 1–7;
  default Monday to Friday;
- ``count_late`` — whether ``Telaat`` registrations count as absence; default false.

All times are local wall-clock times (the export carries no offsets), so the
daylight-saving switch does not move lessons; only date-times with a clock
instant (``Gewijzigd op``) are converted, in :mod:`verzuim_eduarte.fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from adapter.errors import ConfigError

from verzuim_eduarte import fields

PREFIX = "plugins.config.eduarte"
DEFAULT_LESUURINDELING = ("08:30-09:15", "09:15-10:00", "10:15-11:00", "11:00-11:45",
                          "12:15-13:00", "13:00-13:45", "13:45-14:30", "14:45-15:30")
DEFAULT_HOLIDAYS = (("18-10-2025", "26-10-2025"), ("20-12-2025", "04-01-2026"))
DEFAULT_SCHOOL_DAYS = ("ma", "di", "wo", "do", "vr")
_WEEKDAYS = {"ma": 1, "di": 2, "wo": 3, "do": 4, "vr": 5, "za": 6, "zo": 7}
KEYS = ("lesuurindeling", "holidays", "school_days", "count_late")
END_OF_DAY = 24 * 60


@dataclass(frozen=True)
class Lesson:
    """One lesson hour: its number and local start/end in minutes since midnight."""

    number: int
    start: int
    end: int

    @property
    def minutes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Schedule:
    """Lesson hours, holidays and school days of one school (immutable, thread-safe)."""

    lessons: tuple[Lesson, ...]
    holidays: tuple[tuple[date, date], ...]
    school_days: frozenset[int]
    count_late: bool = False

    def is_school_day(self, day: date) -> bool:
        """A configured weekday outside every holiday period."""
        if day.isoweekday() not in self.school_days:
            return False
        return not any(first <= day <= last for first, last in self.holidays)

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(lesson.number for lesson in self.lessons)

    def by_clock(self, start: int, end: int) -> list[tuple[Lesson, int]]:
        """Lessons overlapping ``[start, end)`` (minutes) with the overlapping minutes."""
        out = []
        for lesson in self.lessons:
            overlap = min(end, lesson.end) - max(start, lesson.start)
            if overlap > 0:
                out.append((lesson, overlap))
        return out

    def by_number(self, first: int, last: int) -> list[Lesson] | None:
        """Lessons ``first..last``; None when a number is not in the lesuurindeling."""
        wanted = range(first, last + 1)
        found = [lesson for lesson in self.lessons if lesson.number in wanted]
        return found if len(found) == len(wanted) else None


def minutes_of(value: time | None, default: int) -> int:
    """Minutes since midnight; ``23:59`` means the end of the day (whole-day rows)."""
    if value is None:
        return default
    if (value.hour, value.minute) == (23, 59):
        return END_OF_DAY
    return value.hour * 60 + value.minute


def load_schedule(config: Mapping[str, Any] | None) -> Schedule:
    """Validate ``[plugins.config.eduarte]``; ConfigError names the offending key."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise ConfigError(f"{PREFIX}.{unknown[0]}: unknown key (known: {', '.join(KEYS)})")
    count_late = config.get("count_late", False)
    if not isinstance(count_late, bool):
        raise ConfigError(f"{PREFIX}.count_late: must be true or false")
    return Schedule(lessons=_lessons(config.get("lesuurindeling", DEFAULT_LESUURINDELING)),
                    holidays=_holidays(config.get("holidays", DEFAULT_HOLIDAYS)),
                    school_days=_school_days(config.get("school_days", DEFAULT_SCHOOL_DAYS)),
                    count_late=count_late)


def _lessons(raw: object) -> tuple[Lesson, ...]:
    key = f"{PREFIX}.lesuurindeling"
    if not isinstance(raw, (list, tuple)) or not 1 <= len(raw) <= 12:
        raise ConfigError(f"{key}: must be a list of 1 to 12 \"uu:mm-uu:mm\" strings")
    lessons: list[Lesson] = []
    for i, item in enumerate(raw):
        start_text, _, end_text = item.partition("-") if isinstance(item, str) else ("", "", "")
        start, rule1 = fields.read_time(start_text.strip())
        end, rule2 = fields.read_time(end_text.strip())
        if start is None or end is None or rule1 or rule2:
            raise ConfigError(f"{key}[{i}]: must be \"uu:mm-uu:mm\"")
        lesson = Lesson(i + 1, start.hour * 60 + start.minute, end.hour * 60 + end.minute)
        if lesson.end <= lesson.start:
            raise ConfigError(f"{key}[{i}]: end must lie after start")
        if lessons and lesson.start < lessons[-1].end:
            raise ConfigError(f"{key}[{i}]: overlaps or precedes the lesson before it")
        lessons.append(lesson)
    return tuple(lessons)


def _holidays(raw: object) -> tuple[tuple[date, date], ...]:
    key = f"{PREFIX}.holidays"
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(f"{key}: must be a list of [\"dd-mm-jjjj\", \"dd-mm-jjjj\"] periods")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, (list, tuple)) or len(item) != 2 \
                or not all(isinstance(x, str) for x in item):
            raise ConfigError(f"{key}[{i}]: must be a pair [\"dd-mm-jjjj\", \"dd-mm-jjjj\"]")
        first, rule1 = fields.read_date(item[0].strip())
        last, rule2 = fields.read_date(item[1].strip())
        if first is None or last is None or rule1 or rule2:
            raise ConfigError(f"{key}[{i}]: dates must be valid dd-mm-jjjj")
        if last < first:
            raise ConfigError(f"{key}[{i}]: the period ends before it begins")
        out.append((first, last))
    return tuple(out)


def _school_days(raw: object) -> frozenset[int]:
    key = f"{PREFIX}.school_days"
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ConfigError(f"{key}: must be a non-empty list of weekdays (ma … zo or 1–7)")
    days = set()
    for i, item in enumerate(raw):
        if isinstance(item, str) and item.strip().lower() in _WEEKDAYS:
            days.add(_WEEKDAYS[item.strip().lower()])
        elif isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 7:
            days.add(item)
        else:
            raise ConfigError(f"{key}[{i}]: must be ma, di, wo, do, vr, za, zo or 1–7")
    return frozenset(days)
