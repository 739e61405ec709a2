"""PostgreSQL: planner statistics kept up with bursts, without waiting for autovacuum.

The store's look-ups use their indexes only when the planner knows how the rows are
spread. Without statistics (a new table, or one that grew fast since its last
``ANALYZE``) it takes ``vendor = ? AND brin = ?`` for selective, when every row of a
school shares them, and reads the school's every row per look-up:

- the claim (one due submission per student, oldest first) read and sorted every
  pending row and probed each one's student: 200 ms per claim at 3,000 pending,
  against 0.1 ms. With statistics from before a backlog was worked off it walked the
  primary key past every settled submission; analysing as claims were made only eased
  that (round 16), and migration 0015's index of the pending rows ends it whatever the
  statistics say (round 17), so claims are not counted here;
- the look-ups of reports by student (the signaler's, the registrations' intake) and
  by business key (the intake's) filtered the school's every report: 10 ms and 5 ms
  per statement at 3,000 reports, against 0.6 and 0.5 (docs/performance.md, round 16).

Autovacuum comes a minute or more later, and never for a burst small beside the
table. So the intake, after each commit, asks
:class:`PlannerStatistics` whether a table changed enough since its last ``ANALYZE``
(a sample, not a scan), which then runs in a transaction of its own: inside one
holding row locks, two replicas analysing at once could deadlock. The counts for
``submissions`` and ``reports`` are this process's own: the server's cumulative
statistics lag by a second or more (up to ten for an idle connection), and a burst of
3,000 reports is over in 30. ``registraties`` arrive as
whole exports, and are judged by the server's counts (:func:`keep_statistics`).

SQLite has no statistics here; its planner prefers the index matching the most
columns, and nothing is done.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapter.store import lifecycle as _life
from adapter.store.api import AcceptResult
from adapter.store.engine import Database
from adapter.store.registraties_bulk import STALE_ROWS, STALE_SHARE, keep_statistics

#: The claim's table is analysed when this process queued this many submissions, plus
#: half those pending at its last analysis.
CLAIM_STATS_EVERY = 200


def analyse_reports(conn: Connection) -> int:
    """``ANALYZE reports``; how many rows the planner now believes it holds."""
    conn.exec_driver_sql("ANALYZE reports")
    return int(max(0.0, conn.execute(sa.text(
        "SELECT reltuples FROM pg_class WHERE oid = 'reports'::regclass")).scalar_one()))


class PlannerStatistics:
    """Decides, after each intake commit, which tables to analyse (the module's
    docstring). One per :class:`~adapter.store.Store`; the intake's thread calls it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queued = 0                       # submissions queued since the last analysis
        self._queued_limit = CLAIM_STATS_EVERY
        self._reports = 0                      # reports added since the last analysis
        self._reports_limit = STALE_ROWS       # the table's size unknown until analysed

    def after_accept(self, results: Sequence[AcceptResult]) -> None:
        """Count what a committed intake transaction added; analyse what grew enough."""
        if self._db.dialect != "postgresql":
            return
        if any(r.registraties for r in results):
            self._db.run("analyze", lambda conn: keep_statistics(conn, ("registraties",)))
        self._keep_reports(sum(r.new_reports for r in results))
        self._keep_claims(sum(r.new_reports + r.updated_reports for r in results))

    def _keep_reports(self, added: int) -> None:
        """``ANALYZE reports`` once this process added :data:`STALE_ROWS` reports plus
        :data:`STALE_SHARE` of those the planner counted at the last analysis."""
        self._reports += added
        if self._reports < self._reports_limit:
            return
        planned = self._db.run("analyze", analyse_reports)
        self._reports = 0
        self._reports_limit = STALE_ROWS + int(STALE_SHARE * planned)

    def _keep_claims(self, queued: int) -> None:
        """``ANALYZE submissions`` once this process queued :data:`CLAIM_STATS_EVERY`
        submissions plus half as many as were pending at its last analysis."""
        self._queued += queued
        if self._queued < self._queued_limit:
            return
        pending = self._db.run("analyze", _life.analyse_for_claims)
        self._queued = 0
        self._queued_limit = CLAIM_STATS_EVERY + pending // 2
