"""The DUO side: our Verzuim_V1 service definition, its client, and the port to DUO.

Public surface::

    DuoPort, SubmitResult, ChangesPage, ExchangeRecord   (adapter.duo.port: a leaf)
    DuoClient(duo, school, *, schools=(), credentials=None, exchange_sink=None)
    WorkerClient(duo, school, *, schools=(), credentials, exchange_sink=None)
                                   (the same calls made by a DuoClient in a child process)

The contract constants live in ``adapter.duo.contract``. :class:`DuoClient` (zeep,
requests) and :class:`WorkerClient` are imported on first use, so the simulator and the
port's users can import this package without zeep.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from adapter.duo.port import ChangesPage, DuoPort, ExchangeRecord, SubmitResult

if TYPE_CHECKING:  # the same names, typed, for checkers
    from adapter.duo.client import DuoClient
    from adapter.duo.worker import WorkerClient

__all__ = ["ChangesPage", "DuoClient", "DuoPort", "ExchangeRecord", "SubmitResult",
           "WorkerClient"]


def __getattr__(name: str) -> Any:
    if name == "DuoClient":
        return import_module("adapter.duo.client").DuoClient
    if name == "WorkerClient":
        return import_module("adapter.duo.worker").WorkerClient
    raise AttributeError(f"module 'adapter.duo' has no attribute {name!r}")
