"""The school calendar (adapter.domain.calendar): the packaged holidays per region, school
days, lessons by clock and by number, school weeks, the lookup per BRIN.

The lesson and holiday checks here were the plugins' schedule tests (eduarte and magister
``schedule.py``) before the calendar moved into the core.
"""

from __future__ import annotations

import threading
from datetime import date, time, timedelta

import pytest

from adapter.domain import calendar
from adapter.domain.calendar import (Calendars, CalendarError, Holiday, SchoolCalendar,
                                     holidays_known_until, parse_lessons, region_holidays)
from adapter.hookspecs import CalendarLookup, SchoolCalendarView

MAGISTER_LESSONS = ("08:30-09:20", "09:20-10:10", "10:10-11:00", "11:15-12:05",
                    "12:05-12:55", "13:25-14:15", "14:15-15:05", "15:05-15:55")


@pytest.fixture()
def default() -> SchoolCalendar:
    return SchoolCalendar.build(region=calendar.DEFAULT_REGION)


# ---- the packaged data ---------------------------------------------------------

@pytest.mark.parametrize("region", calendar.REGIONS)
def test_each_region_has_five_holidays_per_school_year_saturday_to_sunday(region: str) -> None:
    holidays = region_holidays(region)
    assert [h.name for h in holidays] == ["herfstvakantie", "kerstvakantie", "voorjaarsvakantie",
                                          "meivakantie", "zomervakantie"] * 2
    for h in holidays:
        assert (h.first.isoweekday(), h.last.isoweekday()) == (6, 7), (region, h)
        assert 9 <= (h.last - h.first).days + 1 <= 44
    assert all(a.last < b.first for a, b in zip(holidays, holidays[1:]))  # no overlaps


@pytest.mark.parametrize("region,herfst,zomer", [
    ("noord", (date(2025, 10, 18), date(2025, 10, 26)), (date(2026, 7, 4), date(2026, 8, 16))),
    ("midden", (date(2025, 10, 18), date(2025, 10, 26)), (date(2026, 7, 18), date(2026, 8, 30))),
    ("zuid", (date(2025, 10, 11), date(2025, 10, 19)), (date(2026, 7, 11), date(2026, 8, 23))),
])
def test_region_dates_2025_26(region: str, herfst: tuple[date, date],
                              zomer: tuple[date, date]) -> None:
    by_name = {h.name: (h.first, h.last) for h in region_holidays(region) if h.first.year <= 2026
               and h.first < date(2026, 9, 1)}
    assert by_name["herfstvakantie"] == herfst and by_name["zomervakantie"] == zomer
    assert by_name["kerstvakantie"] == (date(2025, 12, 20), date(2026, 1, 4))


def test_data_runs_until_the_summer_of_2027() -> None:
    assert holidays_known_until() == date(2027, 8, 29)
    with pytest.raises(CalendarError):
        region_holidays("oost")


# ---- school days ---------------------------------------------------------------

def test_default_calendar_is_the_section_6_1_lesuurindeling_in_region_midden(
        default: SchoolCalendar) -> None:
    assert [lesson.span for lesson in default.lessons][:3] == [(510, 555), (555, 600), (615, 660)]
    assert len(default.lessons) == 8 and default.school_days == frozenset({1, 2, 3, 4, 5})
    assert not default.is_school_day(date(2025, 10, 20))     # herfstvakantie
    assert not default.is_school_day(date(2026, 1, 2))       # kerstvakantie
    assert not default.is_school_day(date(2025, 10, 25))     # a Saturday
    assert default.is_school_day(date(2025, 10, 27))
    assert default.is_school_day(date(2026, 1, 5))
    assert not default.is_school_day(date(2026, 10, 20))     # herfstvakantie 2026 (midden)


def test_regions_differ_and_own_days_off_are_added() -> None:
    noord = SchoolCalendar.build(region="noord")
    zuid = SchoolCalendar.build(region="zuid", holidays=[
        Holiday("studiedag", date(2025, 11, 14), date(2025, 11, 14))])
    monday = date(2025, 10, 13)   # herfstvakantie zuid, not noord
    assert noord.is_school_day(monday) and not zuid.is_school_day(monday)
    assert zuid.is_school_day(date(2025, 10, 20)) and not noord.is_school_day(date(2025, 10, 20))
    assert zuid.holiday_on(date(2025, 11, 14)).name == "studiedag"   # type: ignore[union-attr]
    assert noord.is_school_day(date(2025, 11, 14))


def test_without_region_only_the_schools_own_holidays_count() -> None:
    own = SchoolCalendar.build(region=None, school_days=["di", 3], holidays=[
        Holiday("vrij", date(2025, 10, 8), date(2025, 10, 8))])
    assert [d.day for d in (date(2025, 10, 6) + timedelta(n) for n in range(7))
            if own.is_school_day(d)] == [7]
    assert own.is_school_day(date(2025, 10, 21))   # herfstvakantie of every region
    assert own.lessons_in_day(date(2025, 10, 21)) == 8
    assert own.lessons_in_day(date(2025, 10, 8)) == 0


# ---- lessons -------------------------------------------------------------------

def test_lessons_by_clock_with_breaks_and_partial_minutes(default: SchoolCalendar) -> None:
    assert default.lessons_overlapping(9 * 60 + 50, 10 * 60 + 20) == ((2, 10), (3, 5))
    assert default.lessons_overlapping(600, 615) == ()                       # the break only
    assert default.lessons_overlapping(0, calendar.END_OF_DAY) == tuple(
        (n, 45) for n in range(1, 9))
    magister = SchoolCalendar.build(region="midden", lessons=MAGISTER_LESSONS)
    # 10:10 to 10:10:30 overlaps lesson 3 by half a minute: not a whole minute, not counted
    assert magister.lessons_overlapping(610, 610.5) == ()
    assert magister.lessons_overlapping(510, 610) == ((1, 50), (2, 50))     # a double lesson


def test_lessons_by_number(default: SchoolCalendar) -> None:
    assert default.lessons_numbered(1, 4) == ((1, 45), (2, 45), (3, 45), (4, 45))
    assert default.lessons_numbered(8, 10) is None and default.lessons_numbered(0, 1) is None
    assert default.lessons_numbered(3, 2) is None


@pytest.mark.parametrize("texts,index,rule", [
    ([], None, "1 to 12"),
    (["08:00-08:30"] * 13, None, "1 to 12"),
    (["08:30-09:15", "09:00-09:45"], 1, "lesson 2 begins before lesson 1 ends"),
    (["09:15-08:30"], 0, "must end after it begins"),
    (["8.30-9.15"], 0, "HH:MM-HH:MM"),
    (["08:30-09:15", 915], 1, "HH:MM-HH:MM"),
    (["24:00-24:30"], 0, "valid clock times"),
])
def test_lesson_rules_name_the_entry(texts: list[object], index: int | None, rule: str) -> None:
    with pytest.raises(CalendarError) as info:
        parse_lessons(texts)
    assert info.value.index == index and rule in info.value.rule


def test_parsed_lessons_accept_spaces_and_keep_local_times() -> None:
    [lesson] = parse_lessons([" 08:30 - 09:20 "])
    assert (lesson.number, lesson.start, lesson.end, lesson.minutes) == (1, time(8, 30),
                                                                         time(9, 20), 50)


def test_a_calendar_built_by_hand_keeps_the_contract() -> None:
    lessons = parse_lessons(["08:30-09:15", "09:15-10:00"])
    with pytest.raises(ValueError):
        SchoolCalendar(lessons=lessons[::-1])
    with pytest.raises(ValueError):
        SchoolCalendar(lessons=lessons, school_days=frozenset({0}))


# ---- school weeks ----------------------------------------------------------------

def test_school_weeks_skip_holiday_weeks(default: SchoolCalendar) -> None:
    assert default.school_week(date(2025, 10, 15)) == (2025, 42)
    assert default.school_week(date(2025, 10, 22)) is None           # herfstvakantie (midden)
    assert default.is_holiday_week(date(2025, 10, 25))
    assert default.school_week(date(2026, 1, 1)) is None            # kerstvakantie, ISO 2026-W01
    # a week with one school day left is still a school week
    one_day = SchoolCalendar.build(region="midden", holidays=[
        Holiday("brugdagen", date(2025, 11, 3), date(2025, 11, 6))])
    assert one_day.school_week(date(2025, 11, 3)) == (2025, 45)
    # "4 school weeks" back from 3 Nov 2025 jump over the herfstvakantie: week 43 in
    # midden (18-26 Oct), week 42 in zuid (11-19 Oct)
    assert default.school_weeks_until(date(2025, 11, 3), 4) == (
        (2025, 41), (2025, 42), (2025, 44), (2025, 45))
    assert SchoolCalendar.build(region="zuid").school_weeks_until(date(2025, 11, 3), 4) == (
        (2025, 41), (2025, 43), (2025, 44), (2025, 45))


# ---- the lookup per BRIN ---------------------------------------------------------

def test_calendars_per_brin_with_a_default() -> None:
    noord, zuid = SchoolCalendar.build(region="noord"), SchoolCalendar.build(region="zuid")
    lookup = Calendars({"01BB": zuid}, default=noord)
    assert lookup.for_brin("01BB") is zuid and lookup.for_brin("99ZZ") is noord
    assert lookup.brins == ("01BB",) and lookup.default is noord
    assert Calendars().for_brin("00AA") == SchoolCalendar.build(region="midden")
    assert isinstance(lookup, CalendarLookup) and isinstance(zuid, SchoolCalendarView)


def test_calendar_is_immutable_and_shared_between_threads(default: SchoolCalendar) -> None:
    with pytest.raises(AttributeError):
        default.region = "zuid"  # type: ignore[misc]
    days = [date(2025, 9, 1) + timedelta(n) for n in range(365)]
    expected = [default.is_school_day(d) for d in days]
    results: list[list[bool]] = []
    threads = [threading.Thread(target=lambda: results.append(
        [default.is_school_day(d) for d in days])) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4
