"""Signals: what a school's own registrations say it must do, before DUO's deadline.

Pure logic over one student's registrations at one school, the reports the
school made for that student, the school's calendar and today's date. The rules
are DUO's and the Inspectie's (``duo-verzuim.md`` §2.9):

``zestien_uur``
    Unauthorised absence reaches 16 hours within 4 consecutive school weeks
    (rule 1; holiday weeks are no school weeks and are skipped). The period runs
    from the first counted absence day to the day the 16th hour fell;
    ``meld_uiterlijk`` is 5 working days (Monday–Friday) after that day (rule 2).
    Not raised when a report of the student already covers that day.
``meldtermijn_verstreken``
    A ``zestien_uur`` situation whose ``meld_uiterlijk`` has passed (today is
    later) without a report covering it.
``vervolg_mogelijk``
    After a report, counting restarts the day after its einddatum (rule 3);
    crossing 16 hours again means a follow-up is due. Raised no earlier than 7
    calendar days after the earlier report's begindatum (rule 4: one report per
    7 days for continuous absence).
``lang_verzuim``
    Unauthorised absence on every school day of more than 4 consecutive school
    weeks (rule 7: an LRV report), unless an LRV report covers its last day.
``einddatum_ontbreekt``
    An LRV or RMC report still without einddatum ``missing_einddatum_after_days``
    days after its begindatum (rule 6).

Hours: ``count="clock"`` counts clock hours, a registration's ``minuten`` when
given, else the minutes of its lessons in the school's table; ``count="lessons"``
counts lesson hours. Per day, overlapping registrations count once (the union
of their lessons; a whole day is every lesson of that day). Authorised
(``geoorloofd``), deleted and luxe registrations are not counted here (luxe
absence is its own report, ``L``).

Every :class:`Signal` has a ``key`` that names its situation (kind, school,
start of the period), so a store can raise each situation once however often
the registrations are re-sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from adapter.domain.calendar import SchoolCalendar
from adapter.domain.model import Registratie, Verzuimsoort

SIGNAL_KINDS = ("zestien_uur", "meldtermijn_verstreken", "vervolg_mogelijk", "lang_verzuim",
                "einddatum_ontbreekt")
THRESHOLD_HOURS = 16.0
WINDOW_WEEKS = 4
REPORT_WITHIN_WORKING_DAYS = 5
CADENCE_DAYS = 7
Count = Literal["clock", "lessons"]


@dataclass(frozen=True)
class ReportPeriod:
    """A report the school made for the student: its kind and period (open: no end)."""

    verzuimsoort: Verzuimsoort
    begindatum: date
    einddatum: date | None = None

    def covers(self, day: date) -> bool:
        return self.begindatum <= day and (self.einddatum is None or day <= self.einddatum)


@dataclass(frozen=True)
class Signal:
    """One situation the school should act on. No personal data: dates, hours, a reason."""

    signaal: str
    begindatum: date
    einddatum: date | None
    uren: float
    reden: str
    meld_uiterlijk: date | None = None

    @property
    def key(self) -> str:
        """The situation: the same kind starting the same day is the same signal."""
        return f"{self.signaal}:{self.begindatum.isoformat()}"


def working_days_after(day: date, n: int) -> date:
    """The ``n``-th Monday–Friday after ``day``."""
    current = day
    while n > 0:
        current += timedelta(days=1)
        if current.isoweekday() <= 5:
            n -= 1
    return current


def day_hours(registraties: Iterable[Registratie], calendar: SchoolCalendar,
              count: Count = "clock") -> dict[date, float]:
    """Counted hours per date: unauthorised, not deleted, not luxe; overlaps once.

    Per date, each lesson counts once (the largest minutes any registration gives
    it: its own ``minuten`` shared over its lessons, else the lesson's length in
    the table); minutes without lessons are added as they are."""
    table = {lesson.number: lesson.minutes for lesson in calendar.lessons}
    per_lesson: dict[date, dict[int, float]] = {}
    loose: dict[date, float] = {}
    for reg in registraties:
        if reg.deleted or reg.geoorloofd is True or reg.luxe:
            continue
        lessons = per_lesson.setdefault(reg.datum, {})
        if reg.hele_dag:
            whole = reg.lessons_in_day or calendar.lessons_in_day(reg.datum) or len(table)
            numbers: tuple[int, ...] = tuple(range(1, whole + 1))
        else:
            numbers = reg.lesuren
        if not numbers:
            loose[reg.datum] = loose.get(reg.datum, 0.0) + (reg.minuten or 0)
            continue
        measured = reg.minuten / len(numbers) if reg.minuten and not reg.hele_dag else None
        for n in numbers:
            minutes = measured if measured is not None else float(table.get(n, 0))
            lessons[n] = max(lessons.get(n, 0.0), minutes)
    hours: dict[date, float] = {}
    for day in sorted(set(per_lesson) | set(loose)):
        lessons = per_lesson.get(day, {})
        if count == "lessons":
            value = float(len(lessons)) or loose.get(day, 0.0) / 60
        else:
            value = (sum(lessons.values()) + loose.get(day, 0.0)) / 60
        if value > 0:
            hours[day] = value
    return hours


def evaluate(registraties: Sequence[Registratie], reports: Sequence[ReportPeriod], *,
             calendar: SchoolCalendar, today: date, count: Count = "clock",
             missing_einddatum_after_days: int = 28) -> list[Signal]:
    """Every open signal for one student at one school, oldest first."""
    hours = day_hours((r for r in registraties if r.datum <= today), calendar, count)
    signals = _threshold_signals(hours, reports, calendar, today)
    signals += _long_absence(hours, reports, calendar, today)
    signals += _missing_einddatum(reports, today, missing_einddatum_after_days)
    return sorted(signals, key=lambda s: (s.begindatum, s.signaal))


def _threshold_signals(hours: dict[date, float], reports: Sequence[ReportPeriod],
                       calendar: SchoolCalendar, today: date) -> list[Signal]:
    out: list[Signal] = []
    restart: date | None = None          # counting starts after this day
    earlier: ReportPeriod | None = None  # the report counting restarted after
    not_before: date | None = None       # the 7-day cadence after a report or a signal
    for day in sorted(hours):
        if restart is not None and day <= restart:
            continue
        covering = _covering(reports, day)
        if covering is not None and covering.einddatum is not None:
            restart, earlier = covering.einddatum, covering
            not_before = covering.begindatum + timedelta(days=CADENCE_DAYS)
            continue
        if covering is not None:
            continue  # an open report covers everything after its begindatum
        weeks = set(calendar.school_weeks_until(day, WINDOW_WEEKS))
        window = [d for d in sorted(hours) if (restart is None or d > restart) and d <= day
                  and calendar.school_week(d) in weeks]
        total = sum(hours[d] for d in window)
        if total < THRESHOLD_HOURS:
            continue
        begin = window[0]
        if not_before is not None and day < not_before:
            continue  # a follow-up may not come sooner; the next day is tried again
        due = working_days_after(day, REPORT_WITHIN_WORKING_DAYS)
        kind = "zestien_uur" if earlier is None else "vervolg_mogelijk"
        reason = ("16 uur ongeoorloofd verzuim in 4 schoolweken" if earlier is None
                  else "opnieuw 16 uur na de einddatum van de vorige melding")
        out.append(Signal(kind, begin, day, round(total, 2), reason, meld_uiterlijk=due))
        if today > due:
            out.append(Signal("meldtermijn_verstreken", begin, day, round(total, 2),
                              "meldtermijn van 5 werkdagen verstreken zonder melding",
                              meld_uiterlijk=due))
        # This situation is raised; counting for the next one starts after it.
        restart, not_before = day, begin + timedelta(days=CADENCE_DAYS)
    return out


def _long_absence(hours: dict[date, float], reports: Sequence[ReportPeriod],
                  calendar: SchoolCalendar, today: date) -> list[Signal]:
    """Runs of absence on every school day spanning more than 4 school weeks."""
    out: list[Signal] = []
    run: list[date] = []
    day = min(hours, default=today)
    while day <= today:
        if calendar.is_school_day(day):
            if day in hours:
                run.append(day)
            else:
                out += _long_run(run, hours, reports, calendar)
                run = []
        day += timedelta(days=1)
    out += _long_run(run, hours, reports, calendar)
    return out


def _long_run(run: list[date], hours: dict[date, float], reports: Sequence[ReportPeriod],
              calendar: SchoolCalendar) -> list[Signal]:
    if not run:
        return []
    weeks = {calendar.school_week(d) for d in run}
    if len(weeks) <= WINDOW_WEEKS:
        return []
    lrv = [r for r in reports if r.verzuimsoort is Verzuimsoort.LRV and r.covers(run[-1])]
    if lrv:
        return []
    return [Signal("lang_verzuim", run[0], run[-1], round(sum(hours[d] for d in run), 2),
                   "ongeoorloofd afwezig op elke schooldag van meer dan 4 schoolweken")]


def _missing_einddatum(reports: Sequence[ReportPeriod], today: date, after_days: int
                       ) -> list[Signal]:
    return [Signal("einddatum_ontbreekt", r.begindatum, None, 0.0,
                   f"{r.verzuimsoort.value}-melding zonder einddatum na {after_days} dagen")
            for r in reports
            if r.verzuimsoort in (Verzuimsoort.LRV, Verzuimsoort.RMC) and r.einddatum is None
            and (today - r.begindatum).days > after_days]


def _covering(reports: Sequence[ReportPeriod], day: date) -> ReportPeriod | None:
    return next((r for r in reports if r.covers(day)), None)
