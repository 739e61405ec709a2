"""Signals from a student's registrations: DUO's 16-hour rule with the school's calendar."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from adapter.domain.calendar import SchoolCalendar
from adapter.domain.model import Registratie, Student, Verzuimsoort
from adapter.domain.signals import ReportPeriod, day_hours, evaluate, working_days_after

MIDDEN = SchoolCalendar.build(region="midden")     # herfstvakantie 18–26 Oct 2025 (week 43)
STUDENT = Student(bsn="123456782")


def reg(day: date, *lesuren: int, **kw: object) -> Registratie:
    return Registratie(source_id=f"r-{day.isoformat()}-{lesuren}", brin="00AA", student=STUDENT,
                       datum=day, lesuren=tuple(lesuren), **kw)  # type: ignore[arg-type]


def mondays_and_tuesdays(*mondays: date, **kw: object) -> list[Registratie]:
    return [reg(m + timedelta(days=d), 1, 2, **kw) for m in mondays for d in (0, 1)]


AUTUMN = [date(2025, 9, 29), date(2025, 10, 6), date(2025, 10, 13), date(2025, 10, 27)]


def test_sixteen_hours_across_a_holiday_week_signal_once_on_the_day() -> None:
    regs = mondays_and_tuesdays(*AUTUMN)    # 2 lesson hours on 8 days; none in the holiday
    assert evaluate(regs, [], calendar=MIDDEN, today=date(2025, 10, 27), count="lessons") == []
    [signal] = evaluate(regs, [], calendar=MIDDEN, today=date(2025, 10, 28), count="lessons")
    assert (signal.signaal, signal.begindatum, signal.einddatum, signal.uren) == (
        "zestien_uur", date(2025, 9, 29), date(2025, 10, 28), 16.0)
    assert signal.meld_uiterlijk == date(2025, 11, 4)  # 5 working days after Tuesday 28 Oct
    # Counted without skipping the holiday week, the last 4 weeks hold only 12 hours.
    flat = SchoolCalendar.build(region=None)
    assert evaluate(regs, [], calendar=flat, today=date(2025, 10, 28), count="lessons") == []


def test_authorised_deleted_and_luxe_absence_never_counts() -> None:
    for kw in ({"geoorloofd": True}, {"deleted": True}, {"luxe": True}):
        regs = mondays_and_tuesdays(*AUTUMN, **kw)
        assert evaluate(regs, [], calendar=MIDDEN, today=date(2025, 11, 30),
                        count="lessons") == [], kw


def test_deadline_passed_without_a_report_and_none_once_reported() -> None:
    regs = mondays_and_tuesdays(*AUTUMN)
    later = evaluate(regs, [], calendar=MIDDEN, today=date(2025, 11, 5), count="lessons")
    assert [s.signaal for s in later] == ["meldtermijn_verstreken", "zestien_uur"]
    assert len({s.key for s in later}) == 2
    report = ReportPeriod(Verzuimsoort.V3, date(2025, 9, 29), date(2025, 10, 28))
    assert evaluate(regs, [report], calendar=MIDDEN, today=date(2025, 11, 5),
                    count="lessons") == []


def test_after_a_report_counting_restarts_and_a_follow_up_respects_the_cadence() -> None:
    report = ReportPeriod(Verzuimsoort.V3, date(2025, 11, 3), date(2025, 11, 3))
    # 4 lesson hours a day from Monday 3 Nov: 16 more hours by Friday 7 Nov, but a
    # follow-up may start no sooner than 7 days after the report's begindatum.
    regs = [reg(date(2025, 11, 3) + timedelta(days=n), 1, 2, 3, 4) for n in range(0, 12)
            if (date(2025, 11, 3) + timedelta(days=n)).isoweekday() <= 5]
    signals = evaluate(regs, [report], calendar=MIDDEN, today=date(2025, 11, 14),
                       count="lessons")
    follow, then = [s for s in signals if s.signaal == "vervolg_mogelijk"]
    assert follow.begindatum == date(2025, 11, 4)      # the day after the einddatum
    assert follow.einddatum == date(2025, 11, 10)      # 7 days after 3 Nov, not 7 Nov
    # Continuous absence: the next follow-up no sooner than 7 days after this one began.
    assert (then.begindatum, then.einddatum) == (date(2025, 11, 11), date(2025, 11, 14))
    assert not [s for s in signals if s.signaal == "zestien_uur"]


def test_long_absence_suggests_lrv_unless_an_lrv_report_covers_it() -> None:
    days = [date(2025, 11, 3) + timedelta(days=n) for n in range(40)]
    regs = [reg(d, hele_dag=True) for d in days if MIDDEN.is_school_day(d)]
    today = date(2025, 12, 12)
    kinds = [s.signaal for s in evaluate(regs, [], calendar=MIDDEN, today=today)]
    assert "lang_verzuim" in kinds and "zestien_uur" in kinds
    lrv = ReportPeriod(Verzuimsoort.LRV, date(2025, 11, 3), date(2025, 12, 12))
    assert [s.signaal for s in evaluate(regs, [lrv], calendar=MIDDEN, today=today)] == []
    # Four school weeks are not more than four: no lang_verzuim.
    four = [r for r in regs if r.datum < date(2025, 12, 1)]
    assert "lang_verzuim" not in [s.signaal for s in
                                  evaluate(four, [], calendar=MIDDEN, today=today)]


def test_missing_einddatum_after_the_configured_days() -> None:
    rmc = ReportPeriod(Verzuimsoort.RMC, date(2025, 10, 1))
    assert evaluate([], [rmc], calendar=MIDDEN, today=date(2025, 10, 29)) == []
    [signal] = evaluate([], [rmc], calendar=MIDDEN, today=date(2025, 10, 30))
    assert (signal.signaal, signal.begindatum) == ("einddatum_ontbreekt", date(2025, 10, 1))
    assert evaluate([], [rmc], calendar=MIDDEN, today=date(2025, 10, 30),
                    missing_einddatum_after_days=60) == []


@pytest.mark.parametrize("count, expected", [("clock", 1.5), ("lessons", 2.0)])
def test_hours_count_overlaps_once_in_clock_or_lesson_hours(count: str, expected: float) -> None:
    day = date(2025, 11, 3)
    hours = day_hours([reg(day, 1, 2), reg(day, 2)], MIDDEN, count)  # type: ignore[arg-type]
    assert hours == {day: expected}                                   # 2 lessons of 45 min
    measured = day_hours([reg(day, 1, minuten=50)], MIDDEN, "clock")
    assert measured == {day: pytest.approx(50 / 60)}
    # One registration per lesson, each with its minutes (as Eduarte exports them): summed.
    per_lesson = [reg(day, n, minuten=45) for n in (1, 2, 3)] + [reg(day, 3, minuten=45)]
    assert day_hours(per_lesson, MIDDEN, "clock") == {day: pytest.approx(2.25)}


def test_working_days_skip_weekends() -> None:
    assert working_days_after(date(2025, 10, 31), 1) == date(2025, 11, 3)
    assert working_days_after(date(2025, 10, 28), 5) == date(2025, 11, 4)
