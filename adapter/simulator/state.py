"""The simulator's memory: reports, the ledger, ROD students, mandates, injected faults.

Everything is guarded by one lock. Mutation stamps are strictly increasing across
the whole simulator (millisecond resolution, as on the wire), so a change feed
that returns "strictly after the selection moment" never loses an item at a page
boundary.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from adapter.duo.contract import OIN_RE
from adapter.simulator.model import Officer, Report, Status


@dataclass
class SimMelding:
    """One report as DUO holds it."""

    meldingsnummer: str
    document_id: str | None             # None: typed into DUO's web counter, no aanlevering
    brin: str
    report: Report
    status: Status
    laatste_mutatie: datetime
    status_since: float                 # monotonic time of the last status change
    reden: str | None = None
    toelichting: str | None = None
    behandelaar: Officer = field(default_factory=Officer)
    bijlagen: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FaultPlan:
    """The next ``count`` SOAP calls get ``mode`` (see the control API)."""

    mode: str
    count: int
    seconds: float = 0.0
    #: only calls of this operation (by the SOAPAction's last segment) take it; None: any
    operation: str | None = None


#: ``bad_signature``/``unsigned``: the request is handled (and registered) normally, but
#: the answer's signature is tampered with / left out, so the client must refuse it.
#: ``hang_then_drop``: the request is read, never handled (nothing registered), and the
#: answer held back ``seconds`` (past the client's read timeout), then a 503.
FAULT_MODES = ("http_503", "server_fault", "delay", "commit_then_hang", "bad_signature",
               "unsigned", "hang_then_drop")


class SimState:
    """Shared state of one simulator instance (thread-safe through :attr:`lock`)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.meldingen: dict[str, SimMelding] = {}
        self.by_document: dict[str, str] = {}          # aanlevering document id -> nummer
        self.by_mutation: dict[str, str] = {}          # any processed mutation's id -> nummer
        self.ledger: dict[str, int] = {}               # document id -> registrations
        self.rod: dict[tuple[str, str], date] = {}     # ("bsn"|"onderwijsnummer", nr) -> birth
        self.faults: list[FaultPlan] = []
        self.mandates: dict[str, frozenset[str]] = {}  # certificate OIN -> school OINs
        self._next_nummer = 100001
        self._last_stamp = datetime(2000, 1, 1, tzinfo=timezone.utc)
        # Indexes, so a call costs the same with 100,000 reports held as with ten:
        # the reports per student (content rules), and every mutation in stamp order
        # (the changed-reports feed). Entries of purged or re-stamped reports stay
        # behind and are skipped when read.
        self._by_pupil: dict[tuple[str, str], list[str]] = {}
        self._mutations: list[tuple[datetime, str]] = []

    def reset(self) -> None:
        """Forget reports, ledger and faults (ROD students and mandates are kept)."""
        with self.lock:
            self.meldingen.clear()
            self.by_document.clear()
            self.by_mutation.clear()
            self.ledger.clear()
            self.faults.clear()
            self._by_pupil.clear()
            self._mutations.clear()
            self._next_nummer = 100001

    # ---- stamps and numbers ---------------------------------------------------------

    def next_stamp(self) -> datetime:
        """A mutation stamp strictly after every earlier one (ms resolution, UTC)."""
        with self.lock:
            now = datetime.now(timezone.utc)
            now = now.replace(microsecond=(now.microsecond // 1000) * 1000)
            if now <= self._last_stamp:
                now = self._last_stamp + timedelta(milliseconds=1)
            self._last_stamp = now
            return now

    @property
    def last_stamp(self) -> datetime:
        with self.lock:
            return self._last_stamp

    def next_meldingsnummer(self) -> str:
        with self.lock:
            nummer = str(self._next_nummer)
            self._next_nummer += 1
            return nummer

    # ---- ROD ------------------------------------------------------------------------

    def add_students(self, students: list[dict[str, Any]]) -> int:
        """Add ``{"bsn"|"onderwijsnummer": str, "geboortedatum": "YYYY-MM-DD"}`` entries."""
        parsed: list[tuple[tuple[str, str], date]] = []
        for entry in students:
            if not isinstance(entry, dict):
                raise ValueError("each student must be an object")
            birth = date.fromisoformat(str(entry["geboortedatum"]))
            keys = [(k, str(entry[k])) for k in ("bsn", "onderwijsnummer") if entry.get(k)]
            if not keys:
                raise ValueError("a student needs bsn or onderwijsnummer")
            parsed.extend((key, birth) for key in keys)
        with self.lock:
            for key, birth in parsed:
                self.rod[key] = birth
        return len(students)

    def birth_date(self, bsn: str | None, onderwijsnummer: str | None) -> date | None:
        with self.lock:
            if bsn and ("bsn", bsn) in self.rod:
                return self.rod[("bsn", bsn)]
            if onderwijsnummer:
                return self.rod.get(("onderwijsnummer", onderwijsnummer))
            return None

    # ---- mandates (SaaS) --------------------------------------------------------------

    def set_mandates(self, mandates: dict[str, list[str]]) -> None:
        """Replace the table: which certificate OIN may send for which ``wsa:From`` OINs."""
        table = {}
        for cert_oin, school_oins in mandates.items():
            if not isinstance(school_oins, list) or not all(
                    isinstance(o, str) and OIN_RE.match(o) for o in [cert_oin, *school_oins]):
                raise ValueError("mandates must map an OIN to a list of OINs")
            table[cert_oin] = frozenset(school_oins)
        with self.lock:
            self.mandates = table

    def may_send_for(self, cert_oin: str, from_oin: str) -> bool:
        """A certificate may send for its own OIN, and for the OINs mandated to it."""
        with self.lock:
            return from_oin == cert_oin or from_oin in self.mandates.get(cert_oin, ())

    # ---- faults ---------------------------------------------------------------------

    def add_fault(self, plan: FaultPlan) -> None:
        if plan.mode not in FAULT_MODES:
            raise ValueError("unknown fault mode")
        with self.lock:
            self.faults.append(plan)

    def schoning(self, before: date) -> int:
        """DUO's yearly purge: forget every report last changed before ``before`` (its
        look-ups by document id too; the ledger of used ids is kept). How many went.
        [I]: DUO's retention rule is not published; the control API names the date."""
        with self.lock:
            gone = {nr for nr, sim in self.meldingen.items()
                    if sim.laatste_mutatie.date() < before}
            for nr in gone:
                del self.meldingen[nr]
            for index in (self.by_document, self.by_mutation):
                for key in [k for k, nr in index.items() if nr in gone]:
                    del index[key]
            return len(gone)

    def take_fault(self, operation: str | None = None) -> FaultPlan | None:
        """Consume one call of the first pending fault plan for ``operation``, if any."""
        with self.lock:
            self.faults = [p for p in self.faults if p.count > 0]
            plan = next((p for p in self.faults
                         if p.operation is None or p.operation == operation), None)
            if plan is None:
                return None
            plan.count -= 1
            return FaultPlan(plan.mode, 1, plan.seconds, plan.operation)

    # ---- reports --------------------------------------------------------------------

    def add_melding(self, sim: SimMelding) -> None:
        """Hold a new report (its stamp already set by :meth:`next_stamp`)."""
        with self.lock:
            self.meldingen[sim.meldingsnummer] = sim
            self._by_pupil.setdefault(sim.report.pupil.key, []).append(sim.meldingsnummer)
            self._mutations.append((sim.laatste_mutatie, sim.meldingsnummer))

    def touch(self, sim: SimMelding) -> None:
        """A held report changed: a new mutation stamp (and a place in the feed)."""
        with self.lock:
            sim.laatste_mutatie = self.next_stamp()
            self._mutations.append((sim.laatste_mutatie, sim.meldingsnummer))
            key = sim.report.pupil.key   # a wijzigen keeps the student; should it not:
            if sim.meldingsnummer not in self._by_pupil.get(key, ()):
                self._by_pupil.setdefault(key, []).append(sim.meldingsnummer)

    def of_pupil(self, key: tuple[str, str]) -> list[SimMelding]:
        """The held reports of one student (``Pupil.key``), in meldingsnummer order."""
        with self.lock:
            found = (self.meldingen.get(nr) for nr in self._by_pupil.get(key, ()))
            return sorted((sim for sim in found if sim is not None and sim.report.pupil.key == key),
                          key=lambda sim: int(sim.meldingsnummer))

    def set_status(self, sim: SimMelding, status: Status, *, monotonic_now: float,
                   reden: str | None = None, toelichting: str | None = None,
                   behandelaar: Officer | None = None) -> None:
        """Change a report's status (and feedback), bumping its mutation stamp."""
        with self.lock:
            sim.status = status
            sim.status_since = monotonic_now
            if reden is not None:
                sim.reden = reden
            if toelichting is not None:
                sim.toelichting = toelichting
            if behandelaar is not None:
                sim.behandelaar = behandelaar
            self.touch(sim)

    def add_web_report(self, report: Report, *, monotonic_now: float) -> SimMelding:
        """A report typed into DUO's web counter by the school: registered (status R)
        with a meldingsnummer and a mutation stamp, so it appears in the changed-reports
        feed; no aanlevering, so no document id and nothing in the ledger."""
        with self.lock:
            sim = SimMelding(meldingsnummer=self.next_meldingsnummer(), document_id=None,
                             brin=report.brin, report=report, status=Status.R,
                             laatste_mutatie=self.next_stamp(), status_since=monotonic_now)
            self.add_melding(sim)
            return sim

    def changes(self, brin: str, since: datetime | None, limit: int
                ) -> tuple[list[SimMelding], datetime, bool]:
        """Reports of ``brin`` changed strictly after ``since``: (page, next moment, more)."""
        with self.lock:
            start = 0 if since is None else bisect.bisect_right(
                self._mutations, (since, "\uffff"))
            hits: list[SimMelding] = []
            for stamp, nummer in itertools.islice(self._mutations, start, None):
                sim = self.meldingen.get(nummer)
                if sim is not None and sim.laatste_mutatie == stamp and sim.brin == brin:
                    hits.append(sim)
                    if len(hits) > limit:
                        break
            more = len(hits) > limit
            page = hits[:limit]
            if more:
                nxt = page[-1].laatste_mutatie
            else:
                # Every stamp issued so far is visible under the lock: later ones are larger.
                nxt = max(self._last_stamp, since) if since else self._last_stamp
            return page, nxt, more
