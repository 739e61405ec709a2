"""Valid canonical records for tests: a report and a registration that pass every rule."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from adapter.domain.model import (
    Melder,
    Registratie,
    Student,
    Verzuimdag,
    Verzuimmelding,
    Verzuimsoort,
)

__all__ = ["make_melding", "make_registratie", "valid_bsn"]


def valid_bsn(rng: random.Random | None = None) -> str:
    """A random 9-digit number that passes the 11-proef (fictional)."""
    rng = rng or random.Random()
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        check = sum(w * d for w, d in zip(range(9, 1, -1), digits)) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def make_melding(**overrides: Any) -> Verzuimmelding:
    """A report that passes every DUO rule; override any field."""
    values: dict[str, Any] = dict(
        source_id="test-1", brin="00AA", student=Student(bsn=valid_bsn(random.Random(1))),
        verzuimsoort=Verzuimsoort.V3, begindatum=date(2025, 10, 6),
        einddatum=date(2025, 10, 10), vermoedelijke_reden="Spijbelen (test)",
        melder=Melder(naam="Test Melder", emailadres="melder@school.test"),
        verzuimdagen=(Verzuimdag(date(2025, 10, 6), hele_dag=True),))
    values.update(overrides)
    return Verzuimmelding(**values)


def make_registratie(**overrides: Any) -> Registratie:
    """An unauthorised registration of two lessons; override any field."""
    values: dict[str, Any] = dict(
        source_id="reg-1", brin="00AA", student=Student(bsn=valid_bsn(random.Random(1))),
        datum=date(2025, 10, 6), lesuren=(1, 2), lessons_in_day=8)
    values.update(overrides)
    return Registratie(**values)
