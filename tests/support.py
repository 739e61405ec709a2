"""Helpers shared by the test packages (importable as ``support``: tests/ is on sys.path)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.request import Request, urlopen

from adapter.simulator.server import SimulatorServer

SCHOOL_OIN = "00000099000000000001"

#: The school's "today" for tests that build records relative to a day: handed to the
#: simulator (``SimulatorServer(today=fixed_today)``) and used for the records, so no
#: test depends on the date or the hour it runs (a Monday in a school week).
TODAY = date(2026, 3, 16)


def fixed_today() -> date:
    """:data:`TODAY`, as the ``today`` callable the simulator and the intake take."""
    return TODAY


def valid_bsn(n: int) -> str:
    """The ``n``-th of a fixed series of fictional BSNs passing the 11-proef (distinct per n).

    For tests that register several reports: the simulator keeps one open report per
    student, verzuimsoort and period, as DUO would, so each needs its own student."""
    candidate = 200_000_000 + n * 1_000
    while (sum(w * int(d) for w, d in zip(range(9, 1, -1), str(candidate)))
           - candidate % 10) % 11:
        candidate += 1
    return str(candidate)


def control(sim: SimulatorServer, path: str, body: Any = None) -> Any:
    """Call the simulator's control API (plain HTTP on loopback): GET, or POST with JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = Request(f"{sim.control_url}/{path.lstrip('/')}", data=data,
                  method="GET" if body is None else "POST",
                  headers={"Content-Type": "application/json"})
    with urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback test server
        return json.loads(resp.read() or b"null")
