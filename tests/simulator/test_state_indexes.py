"""The simulator's indexes answer what a scan of every held report answers.

The changed-reports feed and the per-student look-up are indexed so a call costs
the same with 100,000 reports held as with ten (``bench/e2e.py --backlog``); here
they are compared with the plain scans they replace, after random registrations,
changes, status changes, web reports, purges and resets.
"""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta

from adapter.simulator.model import Pupil, Report, Reporter, Soort, Status
from adapter.simulator.state import SimMelding, SimState

BRINS = ("00AA", "01BB")


def _report(rng: random.Random, brin: str) -> Report:
    pupil = (Pupil(bsn=f"{rng.randrange(8):09d}") if rng.random() < 0.7
             else Pupil(onderwijsnummer=f"{rng.randrange(4):09d}"))
    return Report(brin=brin, pupil=pupil, soort=Soort.V3,
                  begindatum=date(2025, 11, 1) + timedelta(days=rng.randrange(20)),
                  vermoedelijke_reden="r", melder=Reporter(naam="n", emailadres="e@x.test"))


def _scan_changes(state: SimState, brin: str, since: datetime | None, limit: int
                  ) -> list[str]:
    hits = sorted((s for s in state.meldingen.values()
                   if s.brin == brin and (since is None or s.laatste_mutatie > since)),
                  key=lambda s: s.laatste_mutatie)
    return [s.meldingsnummer for s in hits[:limit]]


def _register(state: SimState, rng: random.Random) -> None:
    brin = rng.choice(BRINS)
    with state.lock:
        sim = SimMelding(meldingsnummer=state.next_meldingsnummer(), document_id=None,
                         brin=brin, report=_report(rng, brin), status=Status.R,
                         laatste_mutatie=state.next_stamp(), status_since=time.monotonic())
        state.add_melding(sim)


def test_feed_and_student_lookup_match_a_full_scan() -> None:
    rng = random.Random(11)
    state = SimState()
    seen: list[datetime] = []
    for step in range(1500):
        action = rng.random()
        held = list(state.meldingen.values())
        if action < 0.45 or not held:
            _register(state, rng)
        elif action < 0.65:
            sim = rng.choice(held)
            sim.report = _report(rng, sim.brin) if rng.random() < 0.1 else sim.report
            state.touch(sim)
        elif action < 0.8:
            state.set_status(rng.choice(held), rng.choice([Status.B, Status.G, Status.I]),
                             monotonic_now=time.monotonic())
        elif action < 0.9:
            state.add_web_report(_report(rng, rng.choice(BRINS)), monotonic_now=0.0)
        elif action < 0.995:
            cut = rng.choice(held).laatste_mutatie.date() + timedelta(days=rng.choice([0, 1]))
            state.schoning(cut)
        else:
            state.reset()
        seen.append(state.last_stamp)
        # The feed, from the start and from moments already seen, in pages.
        for brin in BRINS:
            for since in (None, rng.choice(seen), rng.choice(seen)):
                limit = rng.choice([1, 3, 100])
                page, _, more = state.changes(brin, since, limit)
                expected = _scan_changes(state, brin, since, limit + 1)
                assert [s.meldingsnummer for s in page] == expected[:limit], step
                assert more == (len(expected) > limit), step
        # The reports of one student, as a scan finds them.
        for sim in rng.sample(list(state.meldingen.values()), min(3, len(state.meldingen))):
            key = sim.report.pupil.key
            assert [s.meldingsnummer for s in state.of_pupil(key)] == sorted(
                (s.meldingsnummer for s in state.meldingen.values()
                 if s.report.pupil.key == key), key=int), step
