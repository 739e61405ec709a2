"""The store: SQLite or PostgreSQL, the adapter's system of record.

``Store.open(url)`` connects and migrates; see :mod:`adapter.store.api` for the
contract and :mod:`adapter.store.states` for the state machines.
"""

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
    part_id,
)
from adapter.store.clone import CloneRefused, Cloned
from adapter.store.lifecycle import UnknownSubmission
from adapter.store.states import IllegalTransition
from adapter.store.store import Store

__all__ = [
    "AcceptResult", "Claim", "CloneRefused", "Cloned", "ContentCheck", "ExchangeRecord",
    "FieldViolation", "IllegalTransition", "IncomingRegistratie", "IncomingRejection",
    "IncomingReport", "Registration", "ReportSummary", "Store", "UnknownSubmission", "part_id",
]
