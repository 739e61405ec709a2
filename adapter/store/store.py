"""The store: the system of record (see :mod:`adapter.store.api` for the contract).

:class:`Store` is a thin facade: each public method opens exactly one
transaction (:class:`~adapter.store.engine.Database`) and calls a function of
the role module that does the work (``accept``, ``lifecycle``, ``terugmeldingen``,
``outbox``, ``queries``). All methods are thread-safe. Database faults raise
:class:`~adapter.errors.StoreUnavailable`; illegal state changes raise
:class:`~adapter.store.states.IllegalTransition`; an unknown submission id
raises :class:`~adapter.store.lifecycle.UnknownSubmission`. Every datetime
returned is timezone-aware UTC; naive datetimes passed in are taken as UTC.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from adapter.domain.calendar import Calendars
from adapter.domain.model import OutboundEvent, Terugmelding
from adapter.domain.regions import NONE as NO_AGREEMENTS
from adapter.domain.regions import RegionalAgreements
from adapter.domain.signals import Count
from adapter.errors import ConfigError
from adapter.store import accept as _accept
from adapter.store import bijlagen as _bijlagen
from adapter.store import clone as _clone
from adapter.store import leases as _leases
from adapter.store import lifecycle as _life
from adapter.store import new_reports as _new_reports
from adapter.store import outbox as _outbox
from adapter.store import queries as _queries
from adapter.store import regions as _regions
from adapter.store import registered as _registered
from adapter.store import replay as _replay
from adapter.store import retention as _retention
from adapter.store import rotation as _rotation
from adapter.store import signals as _signals
from adapter.store import terugmeldingen as _terugmeldingen
from adapter.store.api import (
    AcceptResult,
    Claim,
    ContentCheck,
    ExchangeRecord,
    FieldViolation,
    IncomingRegistratie,
    IncomingRejection,
    IncomingReport,
    Registration,
    ReportSummary,
)
from adapter.store.common import as_utc, utcnow
from adapter.store.crypto import Cipher
from adapter.store.engine import Database
from adapter.store.keyfiles import default_student_secret
from adapter.store.planner import PlannerStatistics
from adapter.store.pseudonyms import StudentKeySecret
from adapter.store.students import check_secret

log = structlog.get_logger(__name__)


class Store:
    """Reports, submissions, exchanges, feedback and the outbox, in one database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        #: This process's name on its claims and leases (:mod:`adapter.store.leases`).
        self.replica = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        #: How long a claim holds unless renewed (the daemon sets ``store.claim_lease_seconds``).
        self.claim_lease = timedelta(seconds=60)
        self._planner = PlannerStatistics(db)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, cipher: Cipher | None = None,
             student_secret: StudentKeySecret | None = None) -> Store:
        """Connect to ``url`` (``sqlite:///path`` or ``postgresql://…``) and migrate to head.

        ``cipher`` encrypts personal data at rest (:mod:`adapter.store.crypto`; the
        configured one comes from :func:`adapter.store.keys.open_store`). The newest
        row of each encrypted table is decrypted once here: a wrong or missing key
        is a one-line :class:`~adapter.errors.ConfigError` now, not a crash later.

        ``student_secret`` keys the student keys (:mod:`adapter.store.pseudonyms`);
        None takes the default of ``url`` (:func:`adapter.store.keyfiles.default_student_secret`:
        ``<database>.student.key`` of a SQLite file, refused for PostgreSQL). It is
        checked against the fingerprint in the database here, likewise once.
        """
        if student_secret is None:
            student_secret = default_student_secret(url)
        db = Database.open(url, cipher=cipher, student_secret=student_secret)
        try:
            if migrate:
                db.migrate()
            with db.write("check_student_secret") as conn:
                check_secret(conn)
            with db.read("check_key") as conn:
                _rotation.check_key(conn)
        except BaseException:
            db.close()
            raise
        return cls(db)

    def close(self) -> None:
        self._db.close()

    @property
    def database(self) -> Database:
        """The underlying :class:`Database` (for status checks and tests)."""
        return self._db

    # -- inbox --------------------------------------------------------------------------

    def accept(self, *, message_id: str, vendor: str, routing_key: str,
               items: Sequence[IncomingReport | IncomingRegistratie | IncomingRejection],
               now: datetime | None = None, check: ContentCheck | None = None,
               agreements: RegionalAgreements = NO_AGREEMENTS) -> AcceptResult:
        """Store one AMQP message's reports and rejections; idempotent on ``message_id``.

        ``check`` judges each report's final content (registrations merged) before a
        submission is queued for it; a report it refuses becomes a ``rejected`` event
        and nothing is queued. ``agreements`` (``[[municipalities]]``) hold a V4 report
        its student's municipality does not want (report ``held``, nothing queued).
        See :mod:`adapter.store.accept` for the rules per report.
        """
        [result] = self.accept_many([(message_id, vendor, routing_key, items)], now=now,
                                    check=check, agreements=agreements)
        return result

    def accept_many(self, messages: Sequence[tuple[str, str, str, Sequence[
                        IncomingReport | IncomingRegistratie | IncomingRejection]]], *,
                    now: datetime | None = None, check: ContentCheck | None = None,
                    agreements: RegionalAgreements = NO_AGREEMENTS) -> list[AcceptResult]:
        """:meth:`accept` for several messages, ``(message_id, vendor, routing_key,
        items)`` each, in one transaction: each stored as :meth:`accept` stores it on its
        own, in order, and all or none committed."""
        at = as_utc(now)
        def work(conn: Connection) -> list[AcceptResult]:
            _accept.serialise_intake(conn)
            if len(messages) > 1:       # the plain run (new reports only) set-based
                plain = _new_reports.accept_new(conn, messages, now=at, check=check,
                                                agreements=agreements)
                if plain is not None:
                    return plain
            return [_accept.accept(conn, message_id=message_id, vendor=vendor,
                                   routing_key=routing_key, items=items, now=at, check=check,
                                   agreements=agreements)
                    for message_id, vendor, routing_key, items in messages]
        results = self._db.run("accept", work)
        self._planner.after_accept(results)
        for (message_id, vendor, _, _), result in zip(messages, results):
            log.debug("message_stored", message_id=message_id, vendor=vendor,
                      duplicate=result.duplicate_message, new=result.new_reports,
                      updated=result.updated_reports, rejections=result.rejections)
        return results

    def clone(self, report_id: int, *, begindatum: date | None = None,
              einddatum: date | None = None, today: date,
              now: datetime | None = None,
              check: ContentCheck | None = None) -> _clone.Cloned:
        """Queue a follow-up of registered report ``report_id`` (``meldingen clone``).

        See :mod:`adapter.store.clone`; raises :class:`~adapter.store.clone.CloneRefused`
        (one line, ids and codes only) when it cannot be made, storing nothing.
        """
        at = as_utc(now)
        cloned = self._db.run("clone", lambda conn: _clone.clone_report(
            conn, report_id, begindatum=begindatum, einddatum=einddatum, today=today, now=at,
            check=check))
        log.info("report_cloned", report_id=report_id, follow_up_id=cloned.report_id)
        return cloned

    def release_held(self, agreements: RegionalAgreements, *,
                     now: datetime | None = None) -> int:
        """Queue the held reports ``agreements`` no longer hold (:mod:`adapter.store.regions`);
        returns how many were released."""
        at = as_utc(now)
        released = self._db.run("release_held", lambda conn: _regions.release_held(
            conn, agreements, now=at))
        if released:
            log.info("held_reports_released", count=released)
        return released

    def committed_parts(self, message_id: str) -> set[int]:
        """Chunk numbers of ``message_id`` already committed (see :func:`~adapter.store.api.part_id`)."""
        with self._db.read("committed_parts") as conn:
            return _accept.committed_parts(conn, message_id)

    # -- submissions --------------------------------------------------------------------

    def claim_due(self, *, limit: int, now: datetime | None = None) -> list[Claim]:
        """Claim due pending submissions (``submitting``, attempt + 1), per-student ordered."""
        at = as_utc(now)
        if not self._worth_claiming(at, unknown=False):
            return []
        return self._db.run("claim_due", lambda conn: _life.claim_due(
            conn, limit=limit, now=at, owner=self.replica,
            lease_until=utcnow() + self.claim_lease))

    def claim_unknown(self, *, limit: int) -> list[Claim]:
        """Claim ``unknown`` submissions for reconciliation; attempts unchanged."""
        at = utcnow()
        if not self._worth_claiming(at, unknown=True):
            return []
        return self._db.run("claim_unknown", lambda conn: _life.claim_unknown(
            conn, limit=limit, now=at, owner=self.replica,
            lease_until=utcnow() + self.claim_lease))

    def _worth_claiming(self, at: datetime, *, unknown: bool) -> bool:
        """SQLite: whether anything is due, read first, so an idle claim loop never takes
        the one write lock. PostgreSQL claims at once: a claim that finds nothing locks
        nothing, and the look first was a second transaction per claim."""
        if self._db.dialect == "postgresql":
            return True
        with self._db.read("claim_unknown" if unknown else "claim_due") as conn:
            return _life.any_due(conn, now=at, unknown=unknown)

    @property
    def lease_work_every(self) -> float:
        """Seconds between a holder's renewals of its claims (and looks for expired
        ones): a third of :attr:`claim_lease`, so two renewals can fail before a live
        holder's claim runs out."""
        return self.claim_lease.total_seconds() / 3

    @property
    def shared(self) -> bool:
        """Whether several replicas may work on this store (PostgreSQL)."""
        return self._db.dialect == "postgresql"

    def hold_for_daemon(self) -> None:
        """Refuse a second daemon on a SQLite file (:meth:`Database.hold_for_daemon`)."""
        self._db.hold_for_daemon()

    def renew_claims(self, submission_ids: Sequence[int]) -> int:
        """Extend the leases of this replica's claims (those still ``submitting``)."""
        ids, until = list(submission_ids), utcnow() + self.claim_lease
        if not ids:
            return 0
        return self._db.run("renew_claims", lambda conn: _leases.renew_claims(
            conn, ids, owner=self.replica, until=until))

    def recover_expired(self) -> int:
        """Claims whose lease ran out (a replica died or stopped renewing) become
        ``unknown``, to be reconciled; a live replica's claims are left alone."""
        count = self._db.run("recover_expired", lambda conn: _life.recover_expired(
            conn, now=utcnow()))
        if count:
            log.warning("claims_recovered", count=count)
        return count

    def take_lease(self, name: str, *, seconds: float) -> int | None:
        """Take or renew the named lease for this replica: its epoch (a fencing token for
        :meth:`apply_feedback`), or None while another replica holds it."""
        now = utcnow()
        return self._db.run("take_lease", lambda conn: _leases.take(
            conn, name, holder=self.replica, until=now + timedelta(seconds=seconds), now=now))

    def drop_lease(self, name: str) -> None:
        """Hand the named lease over at once (a clean stop), when this replica holds it."""
        self._db.run("drop_lease", lambda conn: _leases.drop(conn, name, holder=self.replica,
                                                             now=utcnow()))

    def lease_holder(self, name: str) -> str | None:
        with self._db.read("lease_holder") as conn:
            return _leases.holder_of(conn, name, now=utcnow())

    def recover_interrupted(self) -> int:
        """At start-up: every ``submitting`` submission becomes ``unknown``; returns the count.

        Call it only when no other process is submitting against this database
        (with PostgreSQL replicas it would also catch their in-flight claims).
        """
        count = self._db.run("recover_interrupted", lambda conn: _life.recover_interrupted(
            conn, now=utcnow()))
        if count:
            log.warning("submissions_interrupted", count=count)
        return count

    def record_exchange(self, exchange: ExchangeRecord) -> None:
        self.record_exchanges([exchange])

    def record_exchanges(self, exchanges: Sequence[ExchangeRecord]) -> None:
        """Keep these exchanges (in one transaction)."""
        held = list(exchanges)
        if held:
            self._db.run("record_exchange", lambda conn: _life.record_exchanges(conn, held))

    # The outcomes below take the exchanges of the call they settle (``exchanges``) and
    # store them in the same transaction: one commit per call instead of two.

    def mark_registered(self, submission_id: int, *, meldingsnummer: str, status: str,
                        laatste_mutatie: datetime,
                        exchanges: Sequence[ExchangeRecord] = ()) -> None:
        self.mark_registered_many([Registration(submission_id, meldingsnummer, status,
                                                laatste_mutatie, tuple(exchanges))])

    def mark_registered_many(self, registrations: Sequence[Registration]) -> None:
        """Several registrations in one transaction, all or none: each as
        :meth:`mark_registered`. Rows are locked in report order (PostgreSQL), as a
        feedback page locks them. Raises what the first failing one raises."""
        done = sorted((Registration(r.submission_id, r.meldingsnummer, r.status,
                                    as_utc(r.laatste_mutatie), r.exchanges)
                       for r in registrations), key=lambda r: r.submission_id)
        if not done:
            return
        self._db.run("mark_registered", lambda conn: _registered.mark_registered_many(
            conn, done, owner=self.replica, now=utcnow()))

    def mark_rejected(self, submission_id: int, *, errors: Sequence[tuple[str, str]],
                      violations: Sequence[FieldViolation] = (),
                      exchanges: Sequence[ExchangeRecord] = ()) -> None:
        """``errors``: DUO's (code, text); ``violations``: the adapter's (field, rule, code)."""
        errs, own = list(errors), list(violations)
        self._db.run("mark_rejected", lambda conn: _life.mark_rejected(
            conn, submission_id, errors=errs, violations=own, owner=self.replica, now=utcnow(),
            exchanges=exchanges))

    def retry_later(self, submission_id: int, *, at: datetime, error: str,
                    exchanges: Sequence[ExchangeRecord] = ()) -> None:
        due = as_utc(at)
        self._db.run("retry_later", lambda conn: _life.retry_later(
            conn, submission_id, at=due, error=error, owner=self.replica, now=utcnow(),
            exchanges=exchanges))

    def mark_unknown(self, submission_id: int, *, error: str, at: datetime | None = None,
                     count_attempt: bool = False,
                     exchanges: Sequence[ExchangeRecord] = ()) -> None:
        """Reconcile from ``at`` on (default now); ``count_attempt``: a failed look-up counts."""
        due = as_utc(at) if at is not None else None
        self._db.run("mark_unknown", lambda conn: _life.mark_unknown(
            conn, submission_id, error=error, owner=self.replica, now=utcnow(), at=due,
            count_attempt=count_attempt, exchanges=exchanges))

    def release(self, submission_id: int) -> None:
        self._db.run("release", lambda conn: _life.release(conn, submission_id, now=utcnow(),
                                                           owner=self.replica))

    def record_duo_version(self, submission_id: int, item: Terugmelding) -> None:
        """Keep DUO's version of the submission's report (fetched after a stale stamp)
        in its history; the report takes DUO's status and stamp when newer."""
        self._db.run("record_duo_version", lambda conn: _life.record_duo_version(
            conn, submission_id, item=item, now=utcnow()))

    def mark_failed(self, submission_id: int, *, reason: str,
                    exchanges: Sequence[ExchangeRecord] = ()) -> None:
        self._db.run("mark_failed", lambda conn: _life.mark_failed(
            conn, submission_id, reason=reason, owner=self.replica, now=utcnow(),
            exchanges=exchanges))

    # -- replay (operator) ----------------------------------------------------------------

    def failed_submissions(self, *, report_id: int | None = None
                           ) -> list[_replay.ReplayCandidate]:
        """Failed submissions that ``replay`` may resend, with their original failure."""
        with self._db.read("failed_submissions") as conn:
            return _replay.failed_submissions(conn, report_id=report_id)

    def replay_submission(self, submission_id: int) -> _replay.ReplayOutcome:
        """``failed → pending`` with the same document id (see :mod:`adapter.store.replay`)."""
        outcome = self._db.run("replay_submission", lambda conn: _replay.replay_submission(
            conn, submission_id, now=utcnow()))
        log.info("submission_replayed", submission_id=submission_id, result=outcome.result,
                 reason=outcome.reason)
        return outcome

    # -- feedback and outbox ------------------------------------------------------------

    def get_watermark(self, name: str) -> datetime | None:
        with self._db.read("get_watermark") as conn:
            return _terugmeldingen.get_watermark(conn, name)

    def apply_feedback(self, items: Sequence[Terugmelding], *, watermark: datetime,
                       name: str, brin: str | None = None,
                       default_vendor: str = _terugmeldingen.DEFAULT_VENDOR,
                       lease: tuple[str, int] | None = None) -> int:
        """Store DUO's feedback (``brin``: the BRIN polled); reports we never sent become
        web reports (see :mod:`adapter.store.terugmeldingen`). Returns the new events.

        ``lease`` (name, epoch): commit only while this replica holds that lease in that
        epoch (:func:`adapter.store.leases.check`), else :class:`LeaseLost`."""
        def work(conn: Connection) -> int:
            if lease is not None:
                _leases.check(conn, lease[0], holder=self.replica, epoch=lease[1],
                              now=utcnow())
            return _terugmeldingen.apply_feedback(
                conn, items, watermark=watermark, name=name, now=utcnow(), brin=brin,
                default_vendor=default_vendor)
        return self._db.run("apply_feedback", work)

    def pending_events(self, limit: int, exclude: Sequence[_outbox.Route] = ()
                       ) -> list[tuple[int, OutboundEvent]]:
        """Unpublished outbox rows, oldest first (``limit`` may be given by position),
        without the routes (``(vendor, brin, event)``) in ``exclude``."""
        with self._db.read("pending_events") as conn:
            return _outbox.pending_events(conn, limit=limit, exclude=exclude)

    def first_pending_events(self, routes: Sequence[_outbox.Route]
                             ) -> list[tuple[int, OutboundEvent]]:
        """The oldest unpublished outbox row of each route (the relay's probes)."""
        with self._db.read("first_pending_events") as conn:
            return _outbox.first_pending_events(conn, routes)

    def event(self, message_id: str) -> OutboundEvent | None:
        """The outbox event with this AMQP ``message_id`` (published or not)."""
        with self._db.read("event") as conn:
            return _outbox.event_by_message_id(conn, message_id)

    def mark_published(self, outbox_ids: Sequence[int]) -> None:
        ids = list(outbox_ids)
        self._db.run("mark_published", lambda conn: _outbox.mark_published(
            conn, ids, now=utcnow()))

    # -- attachments --------------------------------------------------------------------

    def accept_bijlage(self, *, message_id: str, vendor: str, brin: str | None,
                       source_id: str | None, bestandsnaam: str | None, content: bytes,
                       max_bytes: int, allowed: tuple[str, ...], default_brin: str,
                       now: datetime | None = None) -> str:
        """Store or refuse one attachment (``adapter.store.bijlagen``): ``stored``,
        ``duplicate`` (this message was stored before) or ``rejected``."""
        at = as_utc(now)
        return self._db.run("accept_bijlage", lambda conn: _bijlagen.accept_bijlage(
            conn, message_id=message_id, vendor=vendor, brin=brin, source_id=source_id,
            bestandsnaam=bestandsnaam, content=content, max_bytes=max_bytes, allowed=allowed,
            default_brin=default_brin, now=at))

    def claim_bijlagen(self, *, limit: int,
                       now: datetime | None = None) -> list[_bijlagen.BijlageClaim]:
        at = as_utc(now)
        with self._db.read("claim_bijlagen") as conn:    # none due: no write transaction
            if not _bijlagen.any_due(conn, now=at):
                return []
        return self._db.run("claim_bijlagen", lambda conn: _bijlagen.claim_bijlagen(
            conn, limit=limit, now=at, owner=self.replica,
            lease_until=utcnow() + self.claim_lease))

    def renew_bijlagen(self, bijlagen: Sequence[int]) -> int:
        """Extend the leases of this replica's attachments still ``sending``."""
        ids, until = list(bijlagen), utcnow() + self.claim_lease
        if not ids:
            return 0
        return self._db.run("renew_bijlagen", lambda conn: _bijlagen.renew(
            conn, ids, owner=self.replica, until=until))

    def mark_bijlage_sent(self, bijlage: int, *, meldingsnummer: str,
                          bijlage_id: str | None) -> None:
        self._db.run("mark_bijlage_sent", lambda conn: _bijlagen.mark_sent(
            conn, bijlage, meldingsnummer=meldingsnummer, bijlage_id=bijlage_id, now=utcnow()))

    def mark_bijlage_rejected(self, bijlage: int, *, errors: Sequence[tuple[str, str]] = (),
                              violations: Sequence[FieldViolation] = ()) -> None:
        errs, own = list(errors), list(violations)
        self._db.run("mark_bijlage_rejected", lambda conn: _bijlagen.mark_rejected(
            conn, bijlage, errors=errs, violations=own, now=utcnow()))

    def retry_bijlage(self, bijlage: int, *, at: datetime, error: str,
                      unknown: bool = False) -> None:
        due = as_utc(at)
        self._db.run("retry_bijlage", lambda conn: _bijlagen.retry_later(
            conn, bijlage, at=due, error=error, unknown=unknown, now=utcnow()))

    def release_bijlage(self, bijlage: int) -> None:
        self._db.run("release_bijlage", lambda conn: _bijlagen.release(
            conn, bijlage, now=utcnow()))

    def mark_bijlage_failed(self, bijlage: int, *, reason: str) -> None:
        self._db.run("mark_bijlage_failed", lambda conn: _bijlagen.mark_failed(
            conn, bijlage, reason=reason, now=utcnow()))

    def recover_bijlagen(self) -> int:
        """At start-up: attachments caught ``sending`` by a crash become ``unknown`` (sent
        again with the same document id). On a store replicas share, only those whose
        lease ran out: a live replica's are its own."""
        if self.shared:
            return self.recover_expired_bijlagen()
        return self._db.run("recover_bijlagen", lambda conn: _bijlagen.recover_interrupted(
            conn, now=utcnow()))

    def recover_expired_bijlagen(self) -> int:
        """Attachments ``sending`` whose lease ran out (a replica died) become ``unknown``.
        A look without the write lock first: usually there are none."""
        now = utcnow()
        with self._db.read("recover_expired_bijlagen") as conn:
            if not _bijlagen.any_expired(conn, now=now):
                return 0
        return self._db.run("recover_expired_bijlagen", lambda conn: _bijlagen.recover_expired(
            conn, now=now))

    def bijlagen_of(self, report_id: int) -> list[dict[str, Any]]:
        with self._db.read("bijlagen_of") as conn:
            return _bijlagen.bijlagen_of(conn, report_id)

    # -- retention ----------------------------------------------------------------------

    def purge(self, *, cutoff: datetime, horizon: datetime, dry_run: bool = False,
              progress: Callable[[int], None] = lambda n: None) -> Counter[str]:
        """Apply the retention policy (:mod:`adapter.store.retention`): delete, or with
        ``dry_run`` count, what it lets go; returns counts per table. One short
        transaction per batch of reports; ``progress(n)`` after each batch."""
        before, keeps = as_utc(cutoff), as_utc(horizon)
        total: Counter[str] = Counter()
        after = 0
        while True:
            def batch(conn: Connection) -> tuple[list[int], Counter[str]]:
                ids = _retention.purgeable_reports(conn, cutoff=before, horizon=keeps,
                                                   after=after if dry_run else 0)
                return ids, _retention.purge_reports(conn, ids, dry_run=dry_run)
            if dry_run:
                with self._db.read("purge") as conn:
                    ids, counts = batch(conn)
            else:
                ids, counts = self._db.run("purge", batch)
            if not ids:
                break
            total += counts
            after = ids[-1]
            progress(len(ids))
        with self._db.read("purge") if dry_run else self._db.write("purge") as conn:
            total += _retention.purge_rest(conn, cutoff=before, dry_run=dry_run)
        return total

    # -- signals ------------------------------------------------------------------------

    def signal_students(self, since: datetime | None = None) -> list[_signals.Student]:
        """Students whose registrations or reports changed after ``since`` (all: None)."""
        with self._db.read("signal_students") as conn:
            return _signals.changed_students(conn, as_utc(since) if since else None)

    def signal_changes(self, since: datetime) -> dict[_signals.Student, frozenset[datetime]]:
        """Students whose registrations or reports changed after ``since``, with the
        stamps of those changes (see :func:`adapter.store.signals.change_stamps`)."""
        with self._db.read("signal_changes") as conn:
            return _signals.change_stamps(conn, as_utc(since))

    def evaluate_signals(self, students: Sequence[_signals.Student], *, calendars: Calendars,
                         today: date, count: Count = "clock",
                         missing_einddatum_after_days: int = 28,
                         batch: int = 50) -> Counter[str]:
        """Raise, keep and close the students' signals (``adapter.store.signals``).

        Per ``batch`` students the rules run in a read transaction; only students
        whose signals changed are written, in a short write transaction, so a
        school year of registrations does not hold the writer. Returns the newly
        raised by kind."""
        raised: Counter[str] = Counter()
        for start in range(0, len(students), batch):
            part = list(students[start:start + batch])
            with self._db.read("evaluate_signals") as conn:
                evaluated = _signals.evaluate_students(
                    conn, part, calendars=calendars, today=today, count=count,
                    missing_einddatum_after_days=missing_einddatum_after_days)
            changed = [item for item in evaluated if item.changes]
            if changed:
                raised += self._db.run("keep_signals", lambda conn: _signals.keep(
                    conn, changed, utcnow()))
        return raised

    def list_signals(self, *, include_closed: bool = False) -> list[dict[str, Any]]:
        with self._db.read("list_signals") as conn:
            return _signals.list_signals(conn, include_closed=include_closed)

    def signal_counts(self) -> dict[tuple[str, str], int]:
        with self._db.read("signal_counts") as conn:
            return _signals.signal_counts(conn)

    # -- views --------------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        with self._db.read("counts") as conn:
            return _queries.counts(conn)

    def oldest_pending(self) -> datetime | None:
        with self._db.read("oldest_pending") as conn:
            return _queries.oldest_pending(conn)

    def list_reports(self, *, limit: int = 100, state: str | None = None,
                     duo_status: str | None = None, brin: str | None = None,
                     verzuimsoort: str | None = None,
                     since: datetime | None = None) -> list[ReportSummary]:
        """Newest first; ``since``: created at or after it (naive means UTC)."""
        after = as_utc(since) if since is not None else None
        with self._db.read("list_reports") as conn:
            return _queries.list_reports(conn, limit=limit, state=state, duo_status=duo_status,
                                         brin=brin, verzuimsoort=verzuimsoort, since=after)

    def duo_activity(self) -> dict[str, Any]:
        """Latest exchange, latest one not ``ok`` and latest feedback poll (``status``)."""
        with self._db.read("duo_activity") as conn:
            return _queries.duo_activity(conn)

    def watermarks(self, prefix: str = "") -> dict[str, datetime]:
        with self._db.read("watermarks") as conn:
            return _queries.watermarks(conn, prefix)

    def report_detail(self, report_id: int) -> dict[str, Any] | None:
        with self._db.read("report_detail") as conn:
            return _queries.report_detail(conn, report_id)

    def exchanges_for(self, report_id: int) -> list[ExchangeRecord]:
        with self._db.read("exchanges_for") as conn:
            return _queries.exchanges_for(conn, report_id)

    def report_content(self, report_id: int) -> dict[str, Any] | None:
        """``{"payload", "record"}`` of one report (personal data: evidence only)."""
        with self._db.read("report_content") as conn:
            return _queries.report_content(conn, report_id)

    def terugmeldingen_of(self, report_id: int) -> list[dict[str, Any]]:
        with self._db.read("terugmeldingen_of") as conn:
            return _queries.terugmeldingen_of(conn, report_id)

    def report_ids(self, *, since: datetime | None = None) -> list[int]:
        """Reports changed at or after ``since`` (all: None), oldest first."""
        with self._db.read("report_ids") as conn:
            return _queries.report_ids(conn, since=as_utc(since) if since else None)

    # -- encryption at rest -------------------------------------------------------------

    def rotate_key(self, *, batch: int = 200,
                   progress: Callable[[int], None] | None = None) -> int:
        """Re-encrypt every encrypted value not made with the newest key (clear rows
        included), ``batch`` rows per short transaction; returns the rows rewritten.
        ``progress(n)`` is called with the rows looked at per batch."""
        cipher = self._db.cipher
        if cipher is None:
            raise ConfigError("archive rotate-key needs a key (store.encryption is off)")
        rewritten = _rotation.rotate(self._db, cipher, batch=batch, progress=progress)
        log.info("store_key_rotated", rewritten=rewritten, keys=cipher.key_count)
        return rewritten

    def encrypted_rows(self) -> int:
        """How many rows ``rotate_key`` looks at (for its progress bar)."""
        with self._db.read("encrypted_rows") as conn:
            return _rotation.row_count(conn)
