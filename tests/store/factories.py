"""Builders for store tests: valid reports and a short ``accept`` call."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from adapter.domain.model import Melder, Student, Verzuimmelding, Verzuimsoort
from adapter.store import IncomingReport, Store


T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)

#: The report context every report event carries for the SIS (see registraties.report_context).
CONTEXT = {"verzuimsoort": "V3", "begindatum": "2025-02-03"}


def melding(source_id: str = "r1", *, bsn: str = "123456782", brin: str = "00AA",
            **changes: Any) -> Verzuimmelding:
    """A valid report; ``changes`` override fields."""
    base: dict[str, Any] = dict(
        source_id=source_id, brin=brin, student=Student(bsn=bsn),
        verzuimsoort=Verzuimsoort.V3, begindatum=date(2025, 2, 3),
        vermoedelijke_reden="ziek", melder=Melder(naam="M. Elder", emailadres="m@school.nl"))
    base.update(changes)
    return Verzuimmelding(**base)


def report(source_id: str = "r1", **kw: Any) -> IncomingReport:
    return IncomingReport(vendor="acme", melding=melding(source_id, **kw))


def accept(store: Store, message_id: str, *items: Any, now: datetime = T0) -> Any:
    return store.accept(message_id=message_id, vendor="acme", routing_key="acme.export",
                        items=list(items), now=now)
