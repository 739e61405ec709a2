"""Rules against what the simulator holds: its reports, its ledger, its student registry.

Every rule here is **a guess** [I]: the notes (§2.10) say DUO's functional checks
are not public and list, as plausible, changes only by the creating school and
not after G/K/I, a concurrency stamp that must match, and students known in ROD.
The codes are the simulator's own (``VZ9xx``); DUO's answer replaces them:

====== ================================================================= ==========
code   meaning                                                           evidence
====== ================================================================= ==========
VZ900  identificatiecodeBedrijfsdocument already used (contract constant) [F] unique
VZ901  no such report for this BRIN (another school's is unknown to it)   [I]
VZ902  report closed (G/K/I/D): no change, no withdrawal                  [I]
VZ903  ``datumTijdLaatsteMutatie`` is not the report's current stamp      [I/C]
VZ904  ``datumTijdLaatsteMutatie`` missing (when the stamp is required)   [I]
VZ905  ``vervolgOpMeldingsnummer`` names no report issued to this BRIN
       and this student                                                   [I]
VZ906  ``wijzigen`` changes the student, the verzuimsoort or the
       begindatum (withdraw and report anew instead)                      [I]
VZ907  another open report (R/B) of this BRIN for the same student and
       verzuimsoort overlaps the period                                   [I]
VZ908  student unknown in the student registry (ROD), when one is loaded  [I] §2.10
====== ================================================================= ==========

The functions are pure over the state they are handed (the caller holds the lock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from adapter.simulator.model import Pupil, Report, Status

Fout = tuple[str, str, str]          # (code, field, text)


class Held(Protocol):
    """What a rule needs to know about one report the simulator holds."""

    meldingsnummer: str
    brin: str
    report: Report
    status: Status
    laatste_mutatie: datetime


def unknown_report() -> Fout:
    return "VZ901", "meldingsnummer", "melding niet gevonden voor deze instelling"


def closed_report() -> Fout:
    return "VZ902", "status", "melding is afgesloten of ingetrokken"


def check_target(held: Held | None, brin: str) -> list[Fout]:
    """A report that exists for ``brin`` and is still open (VZ901, VZ902)."""
    if held is None or held.brin != brin:
        return [unknown_report()]
    if held.status.closed:
        return [closed_report()]
    return []


def check_stamp(held: Held, stamp: datetime | None, *, required: bool) -> list[Fout]:
    """The school must know the current state: VZ904 without a stamp (when required),
    VZ903 when the stamp is not the current one (the report changed meanwhile)."""
    if stamp is None:
        if required:
            return [("VZ904", "datumTijdLaatsteMutatie", "datumTijdLaatsteMutatie ontbreekt")]
        return []
    if stamp != held.laatste_mutatie:
        return [("VZ903", "datumTijdLaatsteMutatie", "melding is intussen gewijzigd")]
    return []


def check_identity_kept(held: Held, new: Report) -> list[Fout]:
    """A wijziging keeps who, what kind and from when (VZ906)."""
    old = held.report
    if (old.pupil.key, old.soort, old.begindatum) != (new.pupil.key, new.soort, new.begindatum):
        return [("VZ906", "melding", "leerling, verzuimsoort en begindatum zijn niet te wijzigen")]
    return []


def check_in_registry(pupil: Pupil, registry: Mapping[tuple[str, str], object]) -> list[Fout]:
    """A loaded ROD must know the student (VZ908); no ROD loaded: not checked."""
    if registry and pupil.key not in registry:
        return [("VZ908", "onderwijsdeelnemer", "leerling onbekend in het ROD")]
    return []


def check_follow_up(report: Report, held: Iterable[Held]) -> list[Fout]:
    """A vervolgmelding names a report issued to the same BRIN and student (VZ905)."""
    if report.vervolg_op is None:
        return []
    for h in held:
        if h.meldingsnummer == report.vervolg_op:
            if h.brin == report.brin and h.report.pupil.key == report.pupil.key:
                return []
            break
    return [("VZ905", "vervolgOpMeldingsnummer", "vervolg op onbekende melding")]


def check_no_overlap(report: Report, held: Iterable[Held], *, itself: str | None = None
                     ) -> list[Fout]:
    """One open report per BRIN, student, verzuimsoort and period (VZ907)."""
    for h in held:
        if h.meldingsnummer == itself or h.status.closed or h.brin != report.brin:
            continue
        other = h.report
        if other.pupil.key == report.pupil.key and other.soort == report.soort \
                and other.overlaps(report):
            return [("VZ907", "begindatum",
                     "er is al een open melding van deze soort voor deze periode")]
    return []
