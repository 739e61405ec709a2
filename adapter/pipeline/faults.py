"""Fail points: named checkpoints where a crash test can end the process.

The technique of tikv/fail-rs and etcd's gofail: the command line arms the names
listed in ``VERZUIM_FAILPOINTS`` (comma-separated) once at start-up; when the
daemon reaches an armed point it exits at once with status 137, as a killed
process would, without flushing or cleaning up. Disarmed (the normal case) a
fail point costs one set lookup.

Points: ``after_inbox_commit`` (stored, not yet acked), ``after_soap_ok_before_commit``
(DUO registered it, our store does not know yet), ``after_outbox_commit_before_publish``
(the event is in the outbox, not yet on the broker).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

POINTS = frozenset({"after_inbox_commit", "after_soap_ok_before_commit",
                    "after_outbox_commit_before_publish"})
_armed: frozenset[str] = frozenset()


def arm(names: Iterable[str]) -> None:
    """Arm these fail points (unknown names are refused: a typo must not pass silently)."""
    global _armed
    wanted = frozenset(n.strip() for n in names if n.strip())
    unknown = wanted - POINTS
    if unknown:
        raise ValueError(f"unknown fail point(s): {', '.join(sorted(unknown))}")
    _armed = wanted


def failpoint(name: str) -> None:
    """End the process here when ``name`` is armed."""
    if name in _armed:
        os._exit(137)
