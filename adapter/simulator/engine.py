"""The municipality: takes up registered reports and closes them, on a timer.

A report in ``R`` moves to ``B`` (with a fictional leerplichtambtenaar) once it
has been in ``R`` for ``delay_behandeling`` seconds, and to ``G`` (with a reason
code and explanation) after ``delay_afgesloten`` more seconds in ``B``. Each
change bumps the mutation stamp, so the change feed returns it. A delay of
``None`` switches that step off (tests then drive statuses via the control API).

The whole municipality is a stand-in [I]: the statuses are DUO's (§2.8 [F]), but
when and how a municipality moves a report, its officers' fields and its reason
codes are not public (§2.6, §5), so timing, officers and ``GS`` are invented.
"""

from __future__ import annotations

import threading
import time

import structlog

from adapter.simulator.model import Officer, Status
from adapter.simulator.state import SimState

log = structlog.get_logger(__name__)

#: Fictional officers (example.org addresses, 0900 numbers: nobody real).
OFFICERS = (
    Officer(naam="J. de Leerplicht", telefoonnummer="0900-1234567",
                emailadres="leerplicht@gemeente.example.org", organisatie="Gemeente Voorbeeld"),
    Officer(naam="A. Bakker", telefoonnummer="0900-7654321",
                emailadres="rbl@regio.example.org", organisatie="RBL Regio Voorbeeld"),
)
CLOSE_REASON = "GS"        # "gesprek gevoerd": DUO's reason list is not public (§2.6 [?])
CLOSE_TEXT = "Gesprek gevoerd met leerling en ouders; verzuim gestopt."


class MunicipalityEngine:
    """Background thread moving reports R → B → G."""

    def __init__(self, state: SimState, *, delay_behandeling: float | None,
                 delay_afgesloten: float | None, tick: float = 0.1) -> None:
        self.state = state
        self.delay_behandeling = delay_behandeling
        self.delay_afgesloten = delay_afgesloten
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sim-municipality", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def step(self, now: float | None = None) -> int:
        """One pass over all reports; returns how many changed."""
        now = time.monotonic() if now is None else now
        changed = 0
        with self.state.lock:
            for n, sim in enumerate(sorted(self.state.meldingen.values(),
                                           key=lambda s: int(s.meldingsnummer))):
                waited = now - sim.status_since
                if sim.status is Status.R and self.delay_behandeling is not None \
                        and waited >= self.delay_behandeling:
                    self.state.set_status(sim, Status.B, monotonic_now=now,
                                          behandelaar=OFFICERS[n % len(OFFICERS)])
                    changed += 1
                elif sim.status is Status.B and self.delay_afgesloten is not None \
                        and waited >= self.delay_afgesloten:
                    self.state.set_status(sim, Status.G, monotonic_now=now,
                                          reden=CLOSE_REASON, toelichting=CLOSE_TEXT)
                    changed += 1
        return changed

    def _run(self) -> None:
        wait = self.tick
        while not self._stop.wait(wait):
            started = time.monotonic()
            try:
                changed = self.step()
            except Exception:   # the engine must outlive a bug in one pass
                log.exception("simulator_engine_error")
                continue
            finally:
                # A pass over many reports holds the lock that every call needs: pass
                # at most a tenth of the time (every tick while the state is small).
                wait = max(self.tick, 9 * (time.monotonic() - started))
            if changed:
                log.info("simulator_engine_changed", count=changed)
