"""Intake: one AMQP delivery → vendor plugin → DUO rules → one store transaction.

:class:`Intake` is the consumer's handler. It never calls DUO: it decides what a
delivery becomes (reports, ``rejected`` events, or a dead letter) and commits it;
the consumer acks only after :meth:`Intake.handle` returns ``ack``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import structlog

from adapter.config import Settings
from adapter.domain.model import MappedRecord, MappedRegistratie, RowRejection, Verzuimmelding
from adapter.domain.rules import ADAPTER_RULES, Violation, check_melding, with_codes
from adapter.duo.schema_check import check_schema
from adapter.errors import RecordError, StoreFault, StoreUnavailable, UnknownVendor
from adapter.hookspecs import Vendor
from adapter.logging import redact_text
from adapter.pipeline.alerts import FaultAlarm
from adapter.pipeline.faults import failpoint
from adapter.sis.delivery import Delivery, Disposition
from adapter.store import (
    ContentCheck,
    FieldViolation,
    IncomingRegistratie,
    IncomingRejection,
    IncomingReport,
    Store,
    part_id,
)
from adapter.vendors import VendorRegistry

log = structlog.get_logger(__name__)
T = TypeVar("T")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
#: Parsed records per store transaction for large exports: memory stays flat and a
#: stop waits for at most one chunk (well under a second). Larger chunks share more
#: index pages per commit (SQLite's rate falls less as the table grows) but hold
#: more objects at once; 2,000 keeps a 200,000-row export under 200 MB RSS.
CHUNK = 2000
#: Bodies above this size are read through once before anything is committed.
STREAM_CHECK_BYTES = 1024 * 1024
Item = IncomingReport | IncomingRegistratie | IncomingRejection


def let_others_run() -> None:
    """Hand the interpreter to a thread waiting for it, if any, before mapping the next
    delivery of a batch.

    A DUO call waits for the interpreter after each step on its socket (the TLS
    handshake, the request, the answer). CPython gives it over on request only after its
    switch interval (5 ms), so while the intake maps a batch of deliveries in Python each
    such step could wait that long. ``time.sleep(0)`` lets the waiting thread in at once
    (docs/performance.md, round 11: a burst's first tenth 8 % faster)."""
    time.sleep(0)


def today_in_nl() -> date:
    """DUO's calendar is Dutch: 'in the future' is judged in Europe/Amsterdam."""
    return datetime.now(AMSTERDAM).date()


#: A report for a BRIN the adapter does not send for.
NOT_OUR_SCHOOL = ("brin", ADAPTER_RULES["AD011"], "AD011")


#: Stands in for ``vervolg_op`` in the schema check (a valid meldingsnummer).
_SOME_MELDINGSNUMMER = "1"


def content_check(today: date) -> ContentCheck:
    """The store's check of a report's final content: DUO's schema first (DUO checks
    the XSD before its rules, §2.10), then DUO's rules, as (field, rule, code).

    ``vervolg_op`` is the SIS's ``source_id`` of the earlier report, not yet DUO's
    meldingsnummer that is sent in its place (that look-up has rules of its own,
    AD020–AD022), so the schema judges the report with a valid meldingsnummer there.
    """
    def check(melding: Verzuimmelding) -> list[Violation]:
        sent = (replace(melding, vervolg_op=_SOME_MELDINGSNUMMER) if melding.vervolg_op
                else melding)
        return [*check_schema(sent), *check_melding(melding, today=today)]
    return check


class Intake:
    """Turns deliveries into store rows. Thread-safe as long as the store is."""

    def __init__(self, settings: Settings, store: Store, vendors: VendorRegistry, *,
                 on_committed: Callable[[], None] = lambda: None,
                 today: Callable[[], date] = today_in_nl,
                 stopping: Callable[[], bool] = lambda: False,
                 alarm: FaultAlarm | None = None) -> None:
        """``stopping``: True once the daemon is shutting down (checked between chunks);
        ``alarm``: told when the store fails and works again (alert once)."""
        self._alarm = alarm or FaultAlarm()
        self._settings = settings
        self._store = store
        self._vendors = vendors
        self._on_committed = on_committed
        self._today = today
        self._stopping = stopping
        self._agreements = settings.regional_agreements()

    def handle(self, delivery: Delivery) -> Disposition:
        """Decide and commit; return the disposition for the consumer.

        ``dead`` for undecodable input (reason without values), ``requeue`` when
        the store cannot be written (system fault) or the daemon is stopping,
        otherwise ``ack``. A store failure of another kind raises :class:`StoreFault`
        (logged as ``store_failed``): the consumer's path for a handler that raised.
        A large export is committed in chunks of :data:`CHUNK`
        parsed records, each one transaction under its own inbox key
        (:func:`~adapter.store.api.part_id`); ``stopping`` is checked before
        each chunk, so a stop waits for at most one chunk. A redelivered large export
        (over :data:`STREAM_CHECK_BYTES`) skips the chunks already committed without
        mapping them again; a small one is mapped again and its committed chunks are
        found by their inbox keys (nothing stored twice).
        """
        _bind(delivery)
        if not delivery.message_id:
            return self._dead("message has no message_id property")
        if len(delivery.body) > self._settings.amqp.max_body_bytes:
            return self._dead("body exceeds amqp.max_body_bytes")
        try:
            vendor = self._vendors.get(_vendor_name(delivery))
        except UnknownVendor:
            return self._dead("no vendor plugin registered for this message")
        structlog.contextvars.bind_contextvars(vendor=vendor.name)
        if delivery.routing_key.endswith(".bijlage"):
            return self._bijlage(vendor.name, delivery)
        totals: dict[str, int] = {}
        parts = repeated = 0
        large = len(delivery.body) > STREAM_CHECK_BYTES
        try:
            # Only a large export looks up its committed chunks first (to skip mapping
            # them again); a small one finds out in its own transaction (the inbox key).
            done = (_from_store("committed_parts", self._store.committed_parts,
                                delivery.message_id) if large else set())
            if large and not done:
                # A large export is committed in chunks (flat memory); read it through
                # once first, so a body that breaks halfway is dead-lettered whole.
                for n, _ in enumerate(vendor.parse(delivery.body,
                                                   content_type=delivery.content_type)):
                    if n % CHUNK == 0 and self._stopping():
                        return self._interrupted(0, len(done))
            for n, natives in enumerate(self._chunks(vendor, delivery)):
                parts = n + 1
                if n in done:
                    continue   # committed by an earlier delivery of this message
                if self._stopping():
                    return self._interrupted(n, len(done))
                items = self._items(vendor, natives)
                natives.clear()   # the parsed rows are mapped: free them before storing
                result = _from_store(
                    "accept", self._store.accept,
                    message_id=part_id(delivery.message_id, n), vendor=vendor.name,
                    routing_key=delivery.routing_key, items=items,
                    check=content_check(self._today()), agreements=self._agreements)
                if not result.duplicate_message:
                    _log_rejected(items)
                del items
                repeated += result.duplicate_message
                for key, value in vars(result).items():
                    totals[key] = totals.get(key, 0) + int(value)
        except StoreUnavailable as exc:
            log.warning("store_unavailable", error=str(exc))
            self._alarm.fault("store", exc, part="intake")
            return Disposition("requeue", "store unavailable")
        except RecordError as exc:
            return self._dead(f"{type(exc).__name__}: {redact_text(str(exc))}")
        except StoreFault as exc:
            log.error("store_failed", error=str(exc))
            raise   # the consumer requeues it (counted) and pauses: not the plugin's bug
        except Exception as exc:  # a plugin bug must not stop the daemon
            log.error("plugin_crashed", error=type(exc).__name__)
            return self._dead(f"vendor plugin failed: {type(exc).__name__}")
        failpoint("after_inbox_commit")
        self._alarm.ok("store")
        _log_accepted(parts, len(done & set(range(parts))) + repeated, totals)
        self._on_committed()
        return Disposition("ack")

    def handle_many(self, deliveries: Sequence[Delivery]) -> list[Disposition]:
        """Commit a run of small deliveries in one store transaction (the consumer's
        batch); return the dispositions of the run, a prefix of ``deliveries``.

        The run is the longest prefix of deliveries that :meth:`handle` would commit
        as one chunk (a body up to :data:`STREAM_CHECK_BYTES` of at most
        :data:`CHUNK` records, a registered vendor, mapped without error, not an
        attachment), ending once it holds :data:`CHUNK` records. Each keeps its own
        inbox key and result, exactly as :meth:`handle` stores it; the run is committed
        whole or not at all.
        Every disposition returned is ``ack``. The consumer hands the rest to
        :meth:`handle` one by one, in order; also the whole run when it is shorter
        than two, or when its transaction fails (:meth:`handle` then reports the
        failure per delivery: a store fault, a bad record)."""
        if len(deliveries) < 2 or self._stopping():
            return []
        run: list[tuple[Delivery, str, list[Item]]] = []
        records = 0
        for delivery in deliveries:
            if records >= CHUNK:
                break   # memory: a run holds about as many records as a chunk
            prepared = self._prepared(delivery)
            if prepared is None:
                break
            let_others_run()
            run.append((delivery, *prepared))
            records += len(prepared[1])
        if len(run) < 2:
            return []
        try:
            results = self._store.accept_many(
                [(part_id(d.message_id or "", 0), vendor, d.routing_key, items)
                 for d, vendor, items in run],
                check=content_check(self._today()), agreements=self._agreements)
        except Exception:   # each one again on its own: handle() decides and logs
            structlog.contextvars.clear_contextvars()
            return []
        for (delivery, vendor, items), result in zip(run, results):
            if not result.duplicate_message:
                _bind(delivery, vendor=vendor)
                _log_rejected(items)
        failpoint("after_inbox_commit")
        self._alarm.ok("store")
        for (delivery, vendor, _), result in zip(run, results):
            _bind(delivery, vendor=vendor)
            _log_accepted(1, int(result.duplicate_message),
                          {k: int(v) for k, v in vars(result).items()})
        self._on_committed()
        return [Disposition("ack") for _ in run]

    def _prepared(self, delivery: Delivery) -> tuple[str, list[Item]] | None:
        """(vendor, items) of a delivery that :meth:`handle_many` may take into its
        run; None when :meth:`handle` must take it on its own."""
        _bind(delivery)
        if (not delivery.message_id or delivery.routing_key.endswith(".bijlage")
                or len(delivery.body) > min(STREAM_CHECK_BYTES,
                                            self._settings.amqp.max_body_bytes)):
            return None
        try:
            vendor = self._vendors.get(_vendor_name(delivery))
            structlog.contextvars.bind_contextvars(vendor=vendor.name)
            chunks = list(self._chunks(vendor, delivery))
            if len(chunks) != 1:
                return None
            items = self._items(vendor, chunks[0])
        except Exception:   # unknown vendor, bad body, plugin bug: handle() decides
            return None
        return vendor.name, items

    def _bijlage(self, vendor: str, delivery: Delivery) -> Disposition:
        """An attachment (``<vendor>.bijlage``): the body is the file, the headers name
        its report (``source_id``, optional ``brin``) and ``bestandsnaam``. The core
        checks and stores it (``Store.accept_bijlage``); plugins never see it."""
        def header(name: str) -> str | None:
            value = delivery.headers.get(name)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            return str(value) if value not in (None, "") else None
        try:
            outcome = self._store.accept_bijlage(
                message_id=delivery.message_id or "", vendor=vendor, brin=header("brin"),
                source_id=header("source_id"), bestandsnaam=header("bestandsnaam"),
                content=delivery.body, max_bytes=self._settings.attachments.max_bytes,
                allowed=self._settings.attachments.allowed,
                default_brin=self._settings.school.brin)
        except StoreUnavailable as exc:
            log.warning("store_unavailable", error=str(exc))
            self._alarm.fault("store", exc, part="intake")
            return Disposition("requeue", "store unavailable")
        self._alarm.ok("store")
        (log.warning if outcome == "rejected" else log.info)(
            "bijlage_received", outcome=outcome, size=len(delivery.body))
        self._on_committed()
        return Disposition("ack")

    def _interrupted(self, part: int, already: int) -> Disposition:
        """Stopping: chunks before ``part`` are committed; the delivery goes back."""
        log.info("intake_interrupted", parts_committed=max(part, already))
        return Disposition("requeue", "stopping")

    @staticmethod
    def _chunks(vendor: Vendor, delivery: Delivery) -> Iterator[list[object]]:
        """The parsed records in chunks of :data:`CHUNK` (always at least one, maybe empty).

        Chunk boundaries depend on the body alone, so a redelivery finds the same chunks.
        """
        chunk: list[object] = []
        produced = False
        for native in vendor.parse(delivery.body, content_type=delivery.content_type):
            chunk.append(native)
            if len(chunk) >= CHUNK:
                produced = True
                yield chunk
                chunk = []
        if chunk or not produced:
            yield chunk

    def _items(self, vendor: Vendor, chunk: list[object]) -> list[Item]:
        """Map one chunk of parsed records and apply DUO's rules (parse rejections first)."""
        items: list[Item] = []
        natives: list[object] = []
        for native in chunk:
            if isinstance(native, RowRejection):
                items.append(self._rejection(vendor.name, native.position,
                                             with_codes(native.violations),
                                             native.source_id, native.brin))
            else:
                natives.append(native)
        today = self._today()
        for entry in vendor.to_duo(natives):
            if isinstance(entry, RowRejection):
                items.append(self._rejection(vendor.name, entry.position,
                                             with_codes(entry.violations),
                                             entry.source_id, entry.brin))
            elif isinstance(entry, MappedRegistratie):
                reg = entry.registratie
                if self._settings.school_for(reg.brin) is None:
                    items.append(self._rejection(vendor.name, entry.position,
                                                 (NOT_OUR_SCHOOL,), reg.source_id, reg.brin))
                else:
                    items.append(IncomingRegistratie(vendor=vendor.name, registratie=reg))
            else:
                items.append(self._report(vendor.name, entry, today))
        return items

    def _report(self, vendor: str, entry: MappedRecord, today: date) -> Item:
        violations: list[FieldViolation] = list(check_melding(entry.melding, today=today))
        if self._settings.school_for(entry.melding.brin) is None:
            violations.append(NOT_OUR_SCHOOL)
        if violations:
            return self._rejection(vendor, entry.position, tuple(violations),
                                   entry.melding.source_id, entry.melding.brin)
        return IncomingReport(vendor=vendor, melding=entry.melding, position=entry.position)

    def _rejection(self, vendor: str, position: str, violations: tuple[FieldViolation, ...],
                   source_id: str | None, brin: str | None) -> IncomingRejection:
        """The row's rejection, logged once its message is committed (:func:`_log_rejected`)."""
        return IncomingRejection(vendor=vendor, brin=brin or self._settings.school.brin,
                                 source_id=source_id, position=position, violations=violations)

    @staticmethod
    def _dead(reason: str) -> Disposition:
        log.warning("message_dead_lettered", reason=reason)
        return Disposition("dead", reason)


def _bind(delivery: Delivery, **more: str) -> None:
    """The log context of one delivery (and nothing of the one before)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        message_id=delivery.message_id, routing_key=delivery.routing_key, **more)


def _from_store(operation: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, a store call of :meth:`Intake.handle`. What the store
    raises besides :class:`StoreUnavailable` and :class:`RecordError` leaves as
    :class:`StoreFault` (naming the operation and the error's class, never a value), so
    that the handler's net for plugin bugs does not dead-letter a healthy message for
    it (docs/reliability.md, row 21)."""
    try:
        return call(*args, **kwargs)
    except (StoreUnavailable, RecordError):
        raise
    except Exception as exc:
        raise StoreFault(f"store failed during {operation}: {type(exc).__name__}") from exc


def _vendor_name(delivery: Delivery) -> str:
    """The vendor plugin a delivery is for: its ``x-vendor`` header, else the first part
    of its routing key."""
    return str(delivery.headers.get("x-vendor") or delivery.routing_key.split(".", 1)[0])


def _log_rejected(items: Sequence[Item]) -> None:
    """``record_rejected`` for each rejection of a chunk just committed: once per row,
    not once per attempt when a commit fails, nor again for a redelivered message the
    store already holds."""
    for item in items:
        if isinstance(item, IncomingRejection):
            violations = item.violations
            log.warning("record_rejected", position=item.position,
                        fields=[f for f, _, _ in violations],
                        rules=[r for _, r, _ in violations],
                        codes=[c for _, _, c in violations])


def _log_accepted(parts: int, skipped: int, totals: dict[str, int]) -> None:
    log.info("message_accepted",
             duplicate=skipped == parts,
             parts=parts, parts_already_stored=skipped,
             new_reports=totals.get("new_reports", 0),
             updated_reports=totals.get("updated_reports", 0),
             unchanged_reports=totals.get("unchanged_reports", 0),
             registraties=totals.get("registraties", 0),
             rejections=totals.get("rejections", 0))
