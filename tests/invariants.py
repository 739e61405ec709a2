"""The Jepsen-style invariant checker of the fault tests (style-and-reliability.md B.5).

Run after "heal, wait, drain". Every record a test publishes has a ``source_id`` and
its own student (BSN), so the simulator's registered reports can be traced back to
the records without the adapter's help:

- **lost**: sent records that are neither registered at the simulator, nor rejected
  (a ``rejected`` event), nor dead (dead-lettered or ``failed``), nor allowed pending;
- **duplicated**: records registered more than once at the simulator (two reports for
  one student), or any business-document id the simulator's ledger counts twice;
- **unexpected**: reports at the simulator that no sent (or indeterminate) record
  explains.

Besides: every registered record produced a ``registered`` event and every rejected
one a ``rejected`` event on the SIS's output queue (duplicates allowed and counted,
all with one ``message_id`` per event), and every terminal failure produced exactly
one log event: ``report_rejected`` (error) for a DUO rejection, ``record_rejected``
(warning: the SIS's record broke a rule before anything was sent) for a rejection at
intake, ``report_failed`` (error) for a submission given up.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Verdict:
    """What the checker found; :meth:`assert_clean` fails with all of it."""

    lost: set[str] = field(default_factory=set)
    duplicated: dict[str, int] = field(default_factory=dict)
    unexpected: set[str] = field(default_factory=set)
    missing_feedback: set[str] = field(default_factory=set)
    log_problems: list[str] = field(default_factory=list)
    registered: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)
    dead: set[str] = field(default_factory=set)
    duplicate_events: int = 0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.missing_feedback
                    or self.log_problems)

    def assert_clean(self) -> None:
        assert len(self.lost) == 0 and len(self.duplicated) == 0 and len(self.unexpected) == 0, (
            f"lost={sorted(self.lost)} duplicated={self.duplicated} "
            f"unexpected={sorted(self.unexpected)}")
        assert not self.missing_feedback, f"no event on the output queue for {self.missing_feedback}"
        assert not self.log_problems, self.log_problems


def bsn_of(report: Mapping[str, Any]) -> str:
    student = report.get("student") or {}
    return str(student.get("bsn") or student.get("onderwijsnummer") or "")


def check(sent: Sequence[Mapping[str, Any]], *, meldingen: Sequence[Mapping[str, Any]],
          ledger: Mapping[str, int], events: Iterable[tuple[str, Mapping[str, Any], Any]],
          dead: Iterable[str] = (), failed: Iterable[str] = (), pending: Iterable[str] = (),
          indeterminate: Sequence[Mapping[str, Any]] = (),
          logs: Sequence[Mapping[str, Any]] | None = None) -> Verdict:
    """Check the run. ``sent``: the records the test published with a positive confirm;
    ``meldingen``/``ledger``: the simulator's control API; ``events``: everything the
    tap read ((event, body, properties)); ``dead``: source ids dead-lettered; ``failed``:
    source ids whose submission ended ``failed``; ``pending``: source ids allowed to be
    unfinished; ``indeterminate``: records whose publish was not confirmed; ``logs``: the
    daemon's log events (dicts with ``event`` and ``level``), None to skip that check."""
    verdict = Verdict()
    by_bsn = {bsn_of(r): str(r["source_id"]) for r in list(sent) + list(indeterminate)}
    sent_ids = {str(r["source_id"]) for r in sent}
    at_sim = Counter(bsn_of(m.get("melding") or {}) for m in meldingen)
    for bsn, count in at_sim.items():
        source = by_bsn.get(bsn)
        if source is None:
            verdict.unexpected.add(bsn)
            continue
        verdict.registered.add(source)
        if count > 1:
            verdict.duplicated[source] = count
    for document_id, count in ledger.items():
        if count > 1:
            verdict.duplicated[f"document:{document_id}"] = count
    kinds: dict[str, Counter[str]] = {"registered": Counter(), "rejected": Counter()}
    message_ids: dict[str, set[str]] = {}
    for event, body, props in events:
        if event in kinds and body.get("source_id"):
            kinds[event][str(body["source_id"])] += 1
            mid = getattr(props, "message_id", None)
            if mid:
                message_ids.setdefault(f"{event}:{body['source_id']}", set()).add(str(mid))
    verdict.rejected = set(kinds["rejected"]) & sent_ids
    verdict.dead = set(dead) | set(failed)
    verdict.duplicate_events = sum(n - 1 for c in kinds.values() for n in c.values() if n > 1)
    for key, ids in message_ids.items():
        if len(ids) > 1:   # a republished event must keep its message_id
            verdict.duplicated[f"event:{key}"] = len(ids)
    verdict.lost = sent_ids - verdict.registered - verdict.rejected - verdict.dead - set(pending)
    verdict.missing_feedback = ((verdict.registered & sent_ids) - set(kinds["registered"])) | (
        verdict.rejected - set(kinds["rejected"]))
    if logs is not None:
        def level(e: Mapping[str, Any]) -> str:
            return str(e.get("level", e.get("log_level", ""))).lower()
        rejected_logs = sum(1 for e in logs if (e.get("event"), level(e)) in (
            ("report_rejected", "error"), ("record_rejected", "warning")))
        failed_logs = sum(1 for e in logs if (e.get("event"), level(e)) == ("report_failed",
                                                                             "error"))
        if rejected_logs != len(verdict.rejected):
            verdict.log_problems.append(
                f"{len(verdict.rejected)} rejection log event(s) expected (report_rejected "
                f"error / record_rejected warning), {rejected_logs} logged")
        if failed_logs != len(set(failed)):
            verdict.log_problems.append(f"{len(set(failed))} error-level report_failed "
                                        f"event(s) expected, {failed_logs} logged")
    return verdict


def json_log(path: Path) -> list[dict[str, Any]]:
    """The JSON-lines log of a daemon process (other lines skipped)."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
