"""Merging registrations into a report's verzuimdagspecificatie."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from adapter.domain.dagspec import merge_days
from adapter.domain.model import (Melder, Registratie, Student, Verzuimdag, Verzuimmelding,
                                  Verzuimsoort)

STUDENT = Student(bsn="123456782")
REPORT = Verzuimmelding(
    source_id="r1", brin="00AA", student=STUDENT, verzuimsoort=Verzuimsoort.V3,
    begindatum=date(2025, 10, 6), einddatum=date(2025, 10, 10), vermoedelijke_reden="x",
    melder=Melder("m", "m@school.test"))


def reg(source: str, day: int, lesuren: tuple[int, ...] = (), **kw: object) -> Registratie:
    return Registratie(source_id=source, brin="00AA", student=STUDENT,
                       datum=date(2025, 10, day), lesuren=lesuren, **kw)  # type: ignore[arg-type]


def test_overlaps_count_once_and_sources_are_listed() -> None:
    days, used = merge_days(REPORT, [reg("w1", 6, (1, 2, 3)), reg("w2", 6, (3, 4)),
                                     reg("w3", 7, (5,))])
    assert days == (Verzuimdag(date(2025, 10, 6), lesuren=(1, 2, 3, 4)),
                    Verzuimdag(date(2025, 10, 7), lesuren=(5,)))
    assert used == ("w1", "w2", "w3")


def test_authorised_deleted_and_out_of_period_are_left_out() -> None:
    days, used = merge_days(REPORT, [reg("ok", 8, (1,)), reg("ziek", 8, (2,), geoorloofd=True),
                                     reg("gone", 8, (3,), deleted=True), reg("late", 13, (1,)),
                                     reg("early", 3, (1,))])
    assert days == (Verzuimdag(date(2025, 10, 8), lesuren=(1,)),)
    assert used == ("ok",)


def test_all_scheduled_lessons_make_a_whole_day() -> None:
    days, _ = merge_days(REPORT, [reg("a", 9, (1, 2, 3, 4), lessons_in_day=6),
                                  reg("b", 9, (5, 6), lessons_in_day=6)])
    assert days == (Verzuimdag(date(2025, 10, 9), hele_dag=True),)


def test_whole_day_wins_and_report_days_are_kept() -> None:
    own = replace(REPORT, verzuimdagen=(Verzuimdag(date(2025, 10, 10), lesuren=(7,)),))
    days, _ = merge_days(own, [reg("m", 6, hele_dag=True), reg("w", 6, (2,)), reg("x", 10, (8,))])
    assert days == (Verzuimdag(date(2025, 10, 6), hele_dag=True),
                    Verzuimdag(date(2025, 10, 10), lesuren=(7, 8)))


def test_open_ended_report_takes_later_registrations() -> None:
    lrv = replace(REPORT, verzuimsoort=Verzuimsoort.LRV, einddatum=None)
    days, _ = merge_days(lrv, [reg("later", 28, (1,))])
    assert days == (Verzuimdag(date(2025, 10, 28), lesuren=(1,)),)


registrations = st.lists(st.builds(
    reg, source=st.text("abc", min_size=1, max_size=3), day=st.integers(4, 12),
    lesuren=st.lists(st.integers(1, 12), max_size=4).map(tuple)), max_size=12)


@given(registrations)
def test_order_and_duplicates_do_not_matter(regs: list[Registratie]) -> None:
    once = merge_days(REPORT, regs)
    assert merge_days(REPORT, list(reversed(regs)) + regs) == once
    for day in once[0]:
        assert REPORT.begindatum <= day.datum <= REPORT.einddatum  # type: ignore[operator]
        assert day.hele_dag or (day.lesuren and list(day.lesuren) == sorted(set(day.lesuren)))
