"""Where an ``aanleveren`` call's time goes, in the baseline and in the daemon (``--phases``).

A diagnostic for ``bench/e2e.py``. :func:`install` wraps the DUO client's steps in the
process it runs in: the bench's own (the baseline) and the daemon's, where
``phases_site/sitecustomize.py`` calls it at start-up when :data:`ENV` names a directory
(with ``--duo-worker`` in the daemon's DUO worker too, which inherits the environment:
its totals are added to the daemon's).
Per step it adds up the wall time, the thread's CPU time and, on Linux, the time the
thread waited runnable for a processor (``/proc/thread-self/schedstat``). What is left,
wall minus both, the thread spent blocked: on its socket, or waiting for the
interpreter lock. In the daemon it also counts the submitter's slot runs: a slot that
finds no ready claim when its call ends stops, and the claim loop starts it again.

The wrapped methods are private to the adapter: should one be renamed, :func:`install`
fails at once rather than measuring nothing. The probe costs a few microseconds per step
(two reads of a ``/proc`` file), so a run with ``--phases`` is for comparing the two
sides, not for the targets.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The directory each process writes its totals to, as ``<role>-<pid>.json``.
ENV = "VERZUIM_BENCH_PHASES"
STEPS = ("call", "build", "sign", "post", "interpret")
_SCHEDSTAT = "/proc/thread-self/schedstat"


def _waited() -> float:
    """Seconds this thread has waited runnable for a processor (0 where unknown)."""
    try:
        with open(_SCHEDSTAT, encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except OSError:
        return 0.0


def _clocks() -> tuple[float, float, float]:
    return time.perf_counter(), time.thread_time(), _waited()


class Probe:
    """Totals per step: calls, wall, CPU and runnable-wait seconds."""

    def __init__(self, role: str, directory: Path) -> None:
        self.role, self.directory = role, directory
        self.totals: dict[str, list[float]] = {}
        self.slot_runs = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def add(self, step: str, start: tuple[float, float, float]) -> None:
        wall, cpu, waited = (now - then for now, then in zip(_clocks(), start))
        with self._lock:
            t = self.totals.setdefault(step, [0, 0.0, 0.0, 0.0])
            t[0] += 1
            t[1] += wall
            t[2] += cpu
            t[3] += waited

    def call(self, real: Callable[..., Any]) -> Callable[..., Any]:
        """``DuoClient._call``: only ``aanleveren`` counts (not the poller's look-ups)."""
        from adapter.duo.contract import AANLEVEREN

        @functools.wraps(real)
        def wrapper(client: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
            if operation != AANLEVEREN:
                return real(client, operation, *args, **kwargs)
            self._local.calling = True
            start = _clocks()
            try:
                return real(client, operation, *args, **kwargs)
            finally:
                self.add("call", start)
                self._local.calling = False
        return wrapper

    def step(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not getattr(self._local, "calling", False):
                return real(*args, **kwargs)
            start = _clocks()
            try:
                return real(*args, **kwargs)
            finally:
                self.add(name, start)
        return wrapper

    def slot(self, real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.slot_runs += 1
            return real(*args, **kwargs)
        return wrapper

    def dump(self) -> None:
        if not self.totals and not self.slot_runs:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{self.role}-{os.getpid()}.json").write_text(json.dumps(
            {"role": self.role, "totals": self.totals, "slot_runs": self.slot_runs}))


def install(role: str, directory: str | Path) -> Probe:
    """Wrap the client's steps in this process; the totals are written at exit."""
    from adapter.duo import binding, client, transport, wsse

    probe = Probe(role, Path(directory))
    client.DuoClient._call = probe.call(client.DuoClient._call)  # type: ignore[method-assign]
    for owner, name, step in ((binding.SoapBinding, "request", "build"),
                              (wsse.EnvelopeSigner, "sign", "sign"),
                              (transport.DuoTransport, "post", "post"),
                              (client.DuoClient, "_interpret", "interpret")):
        setattr(owner, name, probe.step(step, getattr(owner, name)))
    if role == "adapter":
        from adapter.pipeline import submitter
        submitter.Submitter._slot = probe.slot(  # type: ignore[method-assign]
            submitter.Submitter._slot)
    atexit.register(probe.dump)
    return probe


def report(directory: Path, pool: int) -> list[str]:
    """Lines comparing the baseline's steps with the daemon's, from the files written."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        # The daemon's calls are made in its DUO worker (duo.worker_process), its slots
        # run in the daemon: one role, two processes, added up.
        data = json.loads(path.read_text())
        into = found.setdefault(data["role"], {"totals": {}, "slot_runs": 0})
        into["slot_runs"] += data["slot_runs"]
        for step, values in data["totals"].items():
            into["totals"][step] = [a + b for a, b in
                                    zip(into["totals"].get(step, [0, 0.0, 0.0, 0.0]), values)]
    if set(found) != {"baseline", "adapter"}:
        return [f"phases: no totals from {sorted({'baseline', 'adapter'} - set(found))}"]

    def cell(role: str, step: str) -> str:
        n, wall, cpu, waited = found[role]["totals"].get(step, [0, 0.0, 0.0, 0.0])
        if not n:
            return "-"
        per = [v / n * 1000 for v in (wall, cpu, waited, wall - cpu - waited)]
        return "{:6.2f} = {:5.2f} + {:5.2f} + {:5.2f}".format(*per)

    calls = {role: int(found[role]["totals"]["call"][0]) for role in found}
    lines = ["phases of an aanleveren call, ms per call: wall = CPU + runnable, waiting for "
             "a processor + blocked (socket, interpreter lock)",
             f"  {'step':10s} {'baseline (' + str(calls['baseline']) + ' calls)':32s} "
             f"adapter ({calls['adapter']} calls)"]
    lines += [f"  {step:10s} {cell('baseline', step):32s} {cell('adapter', step)}"
              for step in STEPS]
    runs = int(found["adapter"]["slot_runs"])
    lines.append(f"adapter: {runs} slot runs for {pool} slots: a slot found no ready claim "
                 f"{max(runs - pool, 0)} times")
    return lines
