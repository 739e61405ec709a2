"""The verzuimdagspecificatie of a report, from its own days and the registrations.

Pure logic. A report's days are the union, per date within the report's period,
of the lesson hours in the report record itself and in every unauthorised,
not deleted registration of the same student on that date: overlaps count once.
A date becomes a whole day when any source says so, or when the merged lesson
hours cover every lesson scheduled that day (``Registratie.lessons_in_day``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from adapter.domain.model import Registratie, Verzuimdag, Verzuimmelding

MAX_LESUUR = 12


def counts(registratie: Registratie) -> bool:
    """Whether a registration may be reported at all (unauthorised, not deleted)."""
    return not registratie.deleted and registratie.geoorloofd is not True


def in_period(melding: Verzuimmelding, day: date) -> bool:
    """``day`` lies within the report's period (open-ended when there is no einddatum)."""
    return melding.begindatum <= day and (melding.einddatum is None or day <= melding.einddatum)


@dataclass
class _Day:
    hele_dag: bool = False
    lesuren: set[int] | None = None
    lessons_in_day: int | None = None

    def add(self, hele_dag: bool, lesuren: Iterable[int], lessons_in_day: int | None) -> None:
        self.hele_dag = self.hele_dag or hele_dag
        self.lesuren = (self.lesuren or set()) | {n for n in lesuren if 1 <= n <= MAX_LESUUR}
        if lessons_in_day:
            self.lessons_in_day = max(self.lessons_in_day or 0, lessons_in_day)

    def verzuimdag(self, datum: date) -> Verzuimdag | None:
        lesuren = self.lesuren or set()
        whole = self.hele_dag or (
            self.lessons_in_day is not None and self.lessons_in_day > 0
            and set(range(1, min(self.lessons_in_day, MAX_LESUUR) + 1)) <= lesuren)
        if whole:
            return Verzuimdag(datum=datum, hele_dag=True)
        if not lesuren:
            return None
        return Verzuimdag(datum=datum, lesuren=tuple(sorted(lesuren)))


def merge_days(melding: Verzuimmelding, registraties: Iterable[Registratie]
               ) -> tuple[tuple[Verzuimdag, ...], tuple[str, ...]]:
    """The report's merged days, and the source ids of the registrations used.

    Registrations of other students are the caller's to leave out; this
    function only applies the period and the counting rules.
    """
    days: dict[date, _Day] = {}
    for own in melding.verzuimdagen:
        days.setdefault(own.datum, _Day()).add(own.hele_dag, own.lesuren, None)
    used: list[str] = []
    for reg in registraties:
        if not counts(reg) or not in_period(melding, reg.datum):
            continue
        days.setdefault(reg.datum, _Day()).add(reg.hele_dag, reg.lesuren, reg.lessons_in_day)
        used.append(reg.source_id)
    merged = (day.verzuimdag(d) for d, day in sorted(days.items()))
    return tuple(v for v in merged if v is not None), tuple(sorted(set(used)))
