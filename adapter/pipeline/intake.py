"""Intake: one AMQP delivery → vendor plugin → DUO rules → one store transaction.

:class:`Intake` is the consumer's handler. It never calls DUO: it decides what a
delivery becomes (reports, ``rejected`` events, or a dead letter) and commits it;
the consumer acks only after :meth:`Intake.handle` returns ``ack``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import structlog

from adapter.config import Settings
from adapter.domain.model import MappedRecord, MappedRegistratie, RowRejection
from adapter.domain.rules import check_melding
from adapter.errors import RecordError, StoreUnavailable, UnknownVendor
from adapter.hookspecs import Vendor
from adapter.logging import redact_text
from adapter.pipeline.faults import failpoint
from adapter.sis.delivery import Delivery, Disposition
from adapter.store import IncomingRegistratie, IncomingRejection, IncomingReport, Store
from adapter.vendors import VendorRegistry

log = structlog.get_logger(__name__)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
#: Records per store transaction for large exports (memory stays flat).
CHUNK = 1000
#: Bodies above this size are read through once before anything is committed.
STREAM_CHECK_BYTES = 1024 * 1024
Item = IncomingReport | IncomingRegistratie | IncomingRejection


def today_in_nl() -> date:
    """DUO's calendar is Dutch: 'in the future' is judged in Europe/Amsterdam."""
    return datetime.now(AMSTERDAM).date()


class Intake:
    """Turns deliveries into store rows. Thread-safe as long as the store is."""

    def __init__(self, settings: Settings, store: Store, vendors: VendorRegistry, *,
                 on_committed: Callable[[], None] = lambda: None,
                 today: Callable[[], date] = today_in_nl) -> None:
        self._settings = settings
        self._store = store
        self._vendors = vendors
        self._on_committed = on_committed
        self._today = today

    def handle(self, delivery: Delivery) -> Disposition:
        """Decide and commit; return the disposition for the consumer.

        ``dead`` for undecodable input (reason without values), ``requeue`` when
        the store cannot be written (system fault), otherwise ``ack``.
        """
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            message_id=delivery.message_id, routing_key=delivery.routing_key)
        if not delivery.message_id:
            return self._dead("message has no message_id property")
        if len(delivery.body) > self._settings.amqp.max_body_bytes:
            return self._dead("body exceeds amqp.max_body_bytes")
        vendor_name = str(delivery.headers.get("x-vendor") or delivery.routing_key.split(".", 1)[0])
        try:
            vendor = self._vendors.get(vendor_name)
        except UnknownVendor:
            return self._dead("no vendor plugin registered for this message")
        structlog.contextvars.bind_contextvars(vendor=vendor.name)
        try:
            if len(delivery.body) > STREAM_CHECK_BYTES:
                # A large export is committed in chunks (flat memory); read it through
                # once first, so a body that breaks halfway is dead-lettered whole.
                for _ in vendor.parse(delivery.body, content_type=delivery.content_type):
                    pass
            totals: dict[str, int] = {}
            for n, items in enumerate(self._batches(vendor, delivery)):
                part_id = delivery.message_id if n == 0 else f"{delivery.message_id}#{n}"
                result = self._store.accept(message_id=part_id, vendor=vendor.name,
                                            routing_key=delivery.routing_key, items=items)
                for key, value in vars(result).items():
                    totals[key] = totals.get(key, 0) + int(value)
        except StoreUnavailable as exc:
            log.error("store_unavailable", error=str(exc))
            return Disposition("requeue", "store unavailable")
        except RecordError as exc:
            return self._dead(f"{type(exc).__name__}: {redact_text(str(exc))}")
        except Exception as exc:  # a plugin bug must not stop the daemon
            log.error("plugin_crashed", error=type(exc).__name__)
            return self._dead(f"vendor plugin failed: {type(exc).__name__}")
        failpoint("after_inbox_commit")
        log.info("message_accepted", duplicate=bool(totals.get("duplicate_message")),
                 new_reports=totals.get("new_reports", 0),
                 updated_reports=totals.get("updated_reports", 0),
                 unchanged_reports=totals.get("unchanged_reports", 0),
                 registraties=totals.get("registraties", 0),
                 rejections=totals.get("rejections", 0))
        self._on_committed()
        return Disposition("ack")

    def _batches(self, vendor: Vendor, delivery: Delivery) -> Iterator[list[Item]]:
        """Store items in chunks of at most :data:`CHUNK` (always at least one, maybe empty)."""
        natives: list[object] = []
        items: list[Item] = []
        produced = False
        for native in vendor.parse(delivery.body, content_type=delivery.content_type):
            if isinstance(native, RowRejection):
                items.append(self._rejection(vendor.name, native.position, native.violations,
                                             native.source_id, native.brin))
            else:
                natives.append(native)
            if len(natives) >= CHUNK:
                items += self._items(vendor, natives)
                natives = []
            if len(items) >= CHUNK:
                produced = True
                yield items
                items = []
        if natives:
            items += self._items(vendor, natives)
        if items or not produced:
            yield items

    def _items(self, vendor: Vendor, natives: list[object]) -> list[Item]:
        """Map one chunk of native records and apply DUO's rules."""
        items: list[Item] = []
        today = self._today()
        for entry in vendor.to_duo(natives):
            if isinstance(entry, RowRejection):
                items.append(self._rejection(vendor.name, entry.position, entry.violations,
                                             entry.source_id, entry.brin))
            elif isinstance(entry, MappedRegistratie):
                reg = entry.registratie
                if self._settings.school_for(reg.brin) is None:
                    items.append(self._rejection(vendor.name, entry.position, (
                        ("brin", "not a school this adapter sends for"),), reg.source_id,
                        reg.brin))
                else:
                    items.append(IncomingRegistratie(vendor=vendor.name, registratie=reg))
            else:
                items.append(self._report(vendor.name, entry, today))
        return items

    def _report(self, vendor: str, entry: MappedRecord, today: date) -> Item:
        violations = [(v.field, v.rule) for v in check_melding(entry.melding, today=today)]
        if self._settings.school_for(entry.melding.brin) is None:
            violations.append(("brin", "not a school this adapter sends for"))
        if violations:
            return self._rejection(vendor, entry.position, tuple(violations),
                                   entry.melding.source_id, entry.melding.brin)
        return IncomingReport(vendor=vendor, melding=entry.melding)

    def _rejection(self, vendor: str, position: str, violations: tuple[tuple[str, str], ...],
                   source_id: str | None, brin: str | None) -> IncomingRejection:
        log.warning("record_rejected", position=position, fields=[f for f, _ in violations],
                    rules=[r for _, r in violations])
        return IncomingRejection(vendor=vendor, brin=brin or self._settings.school.brin,
                                 source_id=source_id, position=position, violations=violations)

    @staticmethod
    def _dead(reason: str) -> Disposition:
        log.warning("message_dead_lettered", reason=reason)
        return Disposition("dead", reason)
