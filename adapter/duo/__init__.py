"""The DUO side: our Verzuim_V1 service definition and its client.

Public API: :class:`DuoClient`, :class:`SubmitResult`, :class:`ChangesPage`
(``adapter.duo.client``); the contract constants live in ``adapter.duo.contract``.
Imported lazily, so the simulator can use ``adapter.duo.contract`` without zeep.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChangesPage", "DuoClient", "SubmitResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from adapter.duo import client
        return getattr(client, name)
    raise AttributeError(name)
