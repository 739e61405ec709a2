"""``verzuim-adapter signalen``: the open signals, as a table or JSON.

Rows carry the signal's kind, school, period, hours and deadline, and the SIS's
``leerlingnummer`` where the registrations named it (the school's own number,
what the school needs to find the student); never a BSN or a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COLUMNS = ("id", "signaal", "brin", "leerlingnummer", "begindatum", "einddatum", "uren",
           "meld_uiterlijk", "state")


def render_signals(rows: Sequence[dict[str, Any]]) -> str:
    """A plain table, one signal per line; a one-line note when there is none."""
    if not rows:
        return "no open signals"
    table = [COLUMNS] + [tuple("" if row.get(c) is None else str(row.get(c)) for c in COLUMNS)
                         for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in table)
