"""Canonical test records with valid, generated identifiers."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any


def make_bsn(rng: random.Random) -> str:
    """A random 9-digit number passing the 11-proef."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        digits[0] = rng.randint(1, 9)
        check = sum(w * d for w, d in zip(range(9, 1, -1), digits)) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def record(rng: random.Random, *, soort: str = "V3", bsn: str | None = None,
           source_id: str | None = None, **extra: Any) -> dict[str, Any]:
    begin = date(2025, 11, 3) + timedelta(days=rng.randint(0, 5))
    body: dict[str, Any] = {
        "source_id": source_id or f"rec-{rng.randrange(10**9):09d}x",
        "brin": "00AA",
        "student": {"bsn": bsn or make_bsn(rng), "achternaam": "Testpersoon-Zwaluw"},
        "verzuimsoort": soort,
        "begindatum": begin.isoformat(),
        "vermoedelijke_reden": "Spijbelt vaak op maandag (testtekst)",
        "melder": {"naam": "Mentor Kwikstaart", "emailadres": "mentor.kwikstaart@school.test"},
        "verzuimdagen": [{"datum": begin.isoformat(), "hele_dag": True}],
    }
    if soort in ("V3", "V4"):
        body["einddatum"] = (begin + timedelta(days=7)).isoformat()
    body.update(extra)
    return body


def encode(*records: dict[str, Any]) -> bytes:
    if len(records) == 1:
        return json.dumps(records[0]).encode()
    return json.dumps({"meldingen": list(records)}).encode()
