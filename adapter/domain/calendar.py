"""The school calendar: school days, holidays by region, lesson times and school weeks.

One :class:`SchoolCalendar` per school (BRIN), built once from the configuration
(``[school]`` / ``[[schools]]``: ``region``, ``holidays``, ``lessons``,
``school_days``) and looked up per BRIN through :class:`Calendars`. Vendor plugins
get the lookup through the hook ``adapter_register_vendors(calendars=...)`` and
keep only their format parsing.

- Holidays are named periods, both ends inclusive: the official ones of the
  school's region (``noord``, ``midden``, ``zuid``) from the packaged data file
  ``data/schoolvakanties.toml`` (:func:`region_holidays`), plus the school's own
  days off.
- Lessons are numbered 1, 2, … in time order, as local wall-clock times
  (Europe/Amsterdam): the daylight-saving switch does not move them. One lesson
  table holds for every school day.
- A school week is an ISO week with at least one school day; a week without one
  (a holiday week) does not count.

Pure and immutable: every object here is safe to share between threads. The
only I/O is reading the packaged data file once (cached).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Final

REGIONS = ("noord", "midden", "zuid")
#: The region of a school whose configuration names none.
DEFAULT_REGION: Final = "midden"
MAX_LESSONS = 12
END_OF_DAY = 24 * 60  # minutes: a clock interval may end at midnight
#: The default lesson table: 8 lessons of 45 minutes, 08:30–15:30, with breaks after
#: lessons 2, 4 and 7 (the lesuurindeling of the Eduarte samples, sis-systems §6.1).
DEFAULT_LESSONS = ("08:30-09:15", "09:15-10:00", "10:15-11:00", "11:00-11:45",
                   "12:15-13:00", "13:00-13:45", "13:45-14:30", "14:45-15:30")
DEFAULT_SCHOOL_DAYS = (1, 2, 3, 4, 5)  # ISO weekdays: Monday to Friday
WEEKDAYS = {"ma": 1, "di": 2, "wo": 3, "do": 4, "vr": 5, "za": 6, "zo": 7,
            "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
_SPAN = re.compile(r"([0-9]{2}):([0-9]{2})\s*-\s*([0-9]{2}):([0-9]{2})")
_DATA = "schoolvakanties.toml"
_MAX_WEEKS_BACK = 104  # a search for school weeks gives up after two years


class CalendarError(ValueError):
    """A calendar setting breaks a rule. ``index`` is the offending entry's position
    in its list (0-based) or None; the message names the rule, never the value."""

    def __init__(self, rule: str, index: int | None = None) -> None:
        super().__init__(rule)
        self.rule = rule
        self.index = index


@dataclass(frozen=True)
class Lesson:
    """One lesson of the table: its number (1 first) and local start and end."""

    number: int
    start: time
    end: time

    @property
    def span(self) -> tuple[int, int]:
        """Start and end in minutes since local midnight."""
        return self.start.hour * 60 + self.start.minute, self.end.hour * 60 + self.end.minute

    @property
    def minutes(self) -> int:
        first, last = self.span
        return last - first


@dataclass(frozen=True)
class Holiday:
    """A named period without lessons, ``first`` to ``last`` inclusive."""

    name: str
    first: date
    last: date

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


def clock_minutes(moment: time) -> float:
    """Minutes since local midnight of a wall-clock time (seconds as a fraction)."""
    return moment.hour * 60 + moment.minute + moment.second / 60


def parse_lesson(text: object, number: int) -> Lesson:
    """``"HH:MM-HH:MM"`` → lesson ``number``; CalendarError when malformed or empty."""
    match = _SPAN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise CalendarError('must look like "HH:MM-HH:MM"')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise CalendarError("must be valid clock times 00:00-23:59")
    if (h2, m2) <= (h1, m1):
        raise CalendarError("must end after it begins")
    return Lesson(number, time(h1, m1), time(h2, m2))


def parse_lessons(texts: Sequence[object]) -> tuple[Lesson, ...]:
    """Lesson 1 first; 1 to 12 lessons, in time order, not overlapping (breaks are gaps)."""
    if not 1 <= len(texts) <= MAX_LESSONS:
        raise CalendarError(f"must list 1 to {MAX_LESSONS} lessons")
    lessons: list[Lesson] = []
    for i, text in enumerate(texts):
        try:
            lesson = parse_lesson(text, i + 1)
        except CalendarError as exc:
            raise CalendarError(exc.rule, i) from None
        if lessons and lesson.start < lessons[-1].end:
            raise CalendarError(f"lesson {i + 1} begins before lesson {i} ends", i)
        lessons.append(lesson)
    return tuple(lessons)


def parse_weekday(value: object) -> int:
    """An ISO weekday 1–7 or a name (``ma`` … ``zo``, ``mon`` … ``sun``) → 1–7."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7:
        return value
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS[value.strip().lower()]
    raise CalendarError("must be 1-7 (ISO weekday) or ma, di, wo, do, vr, za, zo")


@lru_cache(maxsize=1)
def _region_data() -> Mapping[str, tuple[Holiday, ...]]:
    text = resources.files("adapter.domain").joinpath("data", _DATA).read_text(encoding="utf-8")
    found: dict[str, list[Holiday]] = {region: [] for region in REGIONS}
    for period in tomllib.loads(text)["periods"]:
        for region in REGIONS:
            first, last = period[region]
            found[region].append(Holiday(str(period["name"]), first, last))
    return MappingProxyType({r: tuple(sorted(h, key=lambda x: x.first))
                             for r, h in found.items()})


def region_holidays(region: str) -> tuple[Holiday, ...]:
    """The official holidays of ``region`` (one of :data:`REGIONS`), oldest first."""
    if region not in REGIONS:
        raise CalendarError(f"must be one of {', '.join(REGIONS)}")
    return _region_data()[region]


def holidays_known_until() -> date:
    """The last day the data file knows holidays for; later dates have none."""
    return max(h.last for holidays in _region_data().values() for h in holidays)


@dataclass(frozen=True)
class SchoolCalendar:
    """One school's calendar. Build it with :meth:`build`; immutable, thread-safe."""

    lessons: tuple[Lesson, ...]
    holidays: tuple[Holiday, ...] = ()
    school_days: frozenset[int] = frozenset(DEFAULT_SCHOOL_DAYS)
    region: str | None = None

    def __post_init__(self) -> None:
        # The contract the plugins rely on, whoever built the object.
        if [lesson.number for lesson in self.lessons] != list(range(1, len(self.lessons) + 1)):
            raise ValueError("lessons must be numbered 1, 2, … in order")
        if not self.lessons or any(a.end > b.start for a, b in zip(self.lessons, self.lessons[1:])):
            raise ValueError("lessons must be at least one, in time order, not overlapping")
        if not self.school_days or not self.school_days <= set(range(1, 8)):
            raise ValueError("school_days must be ISO weekdays 1-7, at least one")

    @classmethod
    def build(cls, *, region: str | None, holidays: Iterable[Holiday] = (),
              lessons: Sequence[object] = DEFAULT_LESSONS,
              school_days: Iterable[object] = DEFAULT_SCHOOL_DAYS) -> SchoolCalendar:
        """The region's official holidays plus the school's own ``holidays``
        (``region=None``: only the school's own). CalendarError names the rule."""
        periods = [*(region_holidays(region) if region is not None else ()), *holidays]
        return cls(lessons=parse_lessons(lessons),
                   holidays=tuple(sorted(periods, key=lambda h: (h.first, h.last, h.name))),
                   school_days=frozenset(parse_weekday(d) for d in school_days),
                   region=region)

    def holiday_on(self, day: date) -> Holiday | None:
        """The (first) holiday period covering ``day``, if any."""
        return next((h for h in self.holidays if h.covers(day)), None)

    def is_school_day(self, day: date) -> bool:
        """A configured school weekday outside every holiday."""
        return day.isoweekday() in self.school_days and self.holiday_on(day) is None

    def lessons_on(self, day: date) -> tuple[Lesson, ...]:
        """The lessons scheduled on ``day``: the table, or none when it is no school day."""
        return self.lessons if self.is_school_day(day) else ()

    def lessons_in_day(self, day: date) -> int:
        """How many lessons are scheduled on ``day`` (0 when it is no school day)."""
        return len(self.lessons_on(day))

    def lessons_overlapping(self, start: float, end: float) -> tuple[tuple[int, int], ...]:
        """``(number, minutes)`` of every lesson the local clock interval ``[start, end)``
        (minutes since midnight, :data:`END_OF_DAY` for midnight) overlaps by at least one
        whole minute; ``minutes`` is the overlap, rounded down."""
        found = []
        for lesson in self.lessons:
            first, last = lesson.span
            overlap = int(min(end, last) - max(start, first))
            if overlap > 0:
                found.append((lesson.number, overlap))
        return tuple(found)

    def lessons_numbered(self, first: int, last: int) -> tuple[tuple[int, int], ...] | None:
        """``(number, minutes)`` of lessons ``first`` … ``last``; None when one of those
        numbers is not in the table (or ``last < first``)."""
        if last < first or first < 1 or last > len(self.lessons):
            return None
        return tuple((lesson.number, lesson.minutes) for lesson in self.lessons[first - 1:last])

    def school_week(self, day: date) -> tuple[int, int] | None:
        """The ISO ``(year, week)`` of ``day`` when that week has a school day; None for a
        holiday week (or a week without school weekdays)."""
        monday = day - timedelta(days=day.isoweekday() - 1)
        if not any(self.is_school_day(monday + timedelta(days=n)) for n in range(7)):
            return None
        year, week, _ = day.isocalendar()
        return year, week

    def is_holiday_week(self, day: date) -> bool:
        """True when the ISO week of ``day`` has no school day: it is no school week."""
        return self.school_week(day) is None

    def school_weeks_until(self, day: date, count: int) -> tuple[tuple[int, int], ...]:
        """The last ``count`` school weeks up to and including the week of ``day``, oldest
        first (holiday weeks skipped; fewer when none is found within two years)."""
        weeks: list[tuple[int, int]] = []
        for back in range(_MAX_WEEKS_BACK):
            if len(weeks) == count:
                break
            week = self.school_week(day - timedelta(weeks=back))
            if week is not None:
                weeks.append(week)
        return tuple(reversed(weeks))


class Calendars:
    """The school calendar per BRIN. ``default`` serves a BRIN that is not configured:
    such rows may be mapped, but the adapter's intake rejects them afterwards."""

    __slots__ = ("_default", "_schools")

    def __init__(self, schools: Mapping[str, SchoolCalendar] | None = None, *,
                 default: SchoolCalendar | None = None) -> None:
        self._schools: Mapping[str, SchoolCalendar] = MappingProxyType(dict(schools or {}))
        self._default = default or SchoolCalendar.build(region=DEFAULT_REGION)

    @property
    def default(self) -> SchoolCalendar:
        return self._default

    @property
    def brins(self) -> tuple[str, ...]:
        """The configured BRINs, sorted."""
        return tuple(sorted(self._schools))

    def for_brin(self, brin: str) -> SchoolCalendar:
        """The calendar of the school with this BRIN, else :attr:`default`."""
        return self._schools.get(brin, self._default)

