"""Intake: one AMQP delivery → vendor plugin → DUO rules → one store transaction.

:class:`Intake` is the consumer's handler. It never calls DUO: it decides what a
delivery becomes (reports, ``rejected`` events, or a dead letter) and commits it;
the consumer acks only after :meth:`Intake.handle` returns ``ack``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import structlog

from adapter.config import Settings
from adapter.domain.model import MappedRecord, RowRejection
from adapter.domain.rules import check_melding
from adapter.errors import RecordError, StoreUnavailable, UnknownVendor
from adapter.logging import redact_text
from adapter.plugins import VendorRegistry
from adapter.sis import Delivery, Disposition
from adapter.store import IncomingRejection, IncomingReport, Store

log = structlog.get_logger(__name__)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


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
            items = self._map(vendor, delivery)
        except RecordError as exc:
            return self._dead(f"{type(exc).__name__}: {redact_text(str(exc))}")
        except Exception as exc:  # a plugin bug must not stop the daemon
            log.error("plugin_crashed", error=type(exc).__name__)
            return self._dead(f"vendor plugin failed: {type(exc).__name__}")
        try:
            result = self._store.accept(message_id=delivery.message_id, vendor=vendor.name,
                                        routing_key=delivery.routing_key, items=items)
        except StoreUnavailable as exc:
            log.error("store_unavailable", error=str(exc))
            return Disposition("requeue", "store unavailable")
        log.info("message_accepted", duplicate=result.duplicate_message,
                 new_reports=result.new_reports, unchanged_reports=result.unchanged_reports,
                 rejections=result.rejections)
        self._on_committed()
        return Disposition("ack")

    def _map(self, vendor: object, delivery: Delivery) -> list[IncomingReport | IncomingRejection]:
        records: list[object] = []
        rejected: list[RowRejection] = []
        for native in vendor.parse(delivery.body, content_type=delivery.content_type):  # type: ignore[attr-defined]
            (rejected if isinstance(native, RowRejection) else records).append(native)
        mapped = list(vendor.to_duo(records)) if records else []  # type: ignore[attr-defined]
        name = vendor.name  # type: ignore[attr-defined]
        items: list[IncomingReport | IncomingRejection] = []
        today = self._today()
        for entry in [*rejected, *mapped]:
            if isinstance(entry, RowRejection):
                items.append(self._rejection(name, entry.position, entry.violations,
                                             entry.source_id, entry.brin))
                continue
            assert isinstance(entry, MappedRecord)
            violations = check_melding(entry.melding, today=today)
            if violations:
                items.append(self._rejection(
                    name, entry.position, tuple((v.field, v.rule) for v in violations),
                    entry.melding.source_id, entry.melding.brin))
            else:
                items.append(IncomingReport(vendor=name, melding=entry.melding))
        for item in items:
            if isinstance(item, IncomingRejection):
                log.warning("record_rejected", position=item.position,
                            fields=[f for f, _ in item.violations],
                            rules=[r for _, r in item.violations])
        return items

    def _rejection(self, vendor: str, position: str, violations: tuple[tuple[str, str], ...],
                   source_id: str | None, brin: str | None) -> IncomingRejection:
        return IncomingRejection(vendor=vendor, brin=brin or self._settings.school.brin,
                                 source_id=source_id, position=position, violations=violations)

    @staticmethod
    def _dead(reason: str) -> Disposition:
        log.warning("message_dead_lettered", reason=reason)
        return Disposition("dead", reason)
