"""Where the machine's CPU went during a run of ``bench/e2e.py``: CPU seconds by process.

The bench compares the daemon with its DUO calls alone on one machine, where the
simulator (DUO's stand-in), the broker, the database and the bench itself share the
processors with what is measured. :class:`CpuWindow` adds up, over one run, the CPU
time (``utime + stime`` of ``/proc/<pid>/stat``, all threads) of every process on the
machine, by role:

* ``bench``, ``simulator``, ``daemon``: the processes the bench names (its own, the
  simulator's, the daemon's), each with the processes it started that the bench did not
  name (the daemon's DUO worker, ``duo.worker_process``); in the baseline ``bench`` is
  the client alone;
* ``broker``: RabbitMQ's Erlang processes (``beam.smp``, ``erl_child_setup``,
  ``epmd``, ``inet_gethost``);
* ``postgresql``: every ``postgres`` process (the daemon's connections, the server's
  own writers);
* ``other``: everything else, kernel threads too: what the machine did beside the run.

A process started during the window counts from zero; one that ended is counted up to
the last sample (every :data:`INTERVAL` seconds). One look at every process costs about
1.5 ms on this machine with 80 processes, so the sampling takes about 0.3 % of a core.
It runs in a thread of the bench, so its own CPU is left out (``own``): of ``bench`` here,
and of the baseline's CPU per call, which the bench measures in its own process.

:func:`report` turns the windows into lines: CPU per call (baseline) or per report
(adapter) by role, all of it, and how busy the processors were. When both runs keep
the processors equally busy, the ratio of all CPU per call to all CPU per report is the
``ratio`` the processors allow (docs/performance.md, round 19).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

#: Seconds between two looks at every process.
INTERVAL = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROLE_BY_COMMAND = {"beam.smp": "broker", "erl_child_setup": "broker", "epmd": "broker",
                   "inet_gethost": "broker", "postgres": "postgresql"}
#: Every role; a report line lists them by CPU, the largest first.
ROLES = ("simulator", "daemon", "bench", "postgresql", "broker", "other")


def processors() -> int:
    """The processors this process (and so the bench's children) may run on."""
    return len(os.sched_getaffinity(0))


def stat_seconds(stat: str) -> float:
    """utime + stime of a ``/proc/…/stat`` line, in seconds."""
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _look() -> dict[int, tuple[str, float, int]]:
    """(command, CPU seconds, parent's pid) of every process now."""
    out: dict[int, tuple[str, float, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:         # it ended meanwhile
            continue
        out[int(entry)] = (stat[stat.index("(") + 1:stat.rindex(")")], stat_seconds(stat),
                           int(stat[stat.rindex(")") + 2:].split()[1]))
    return out


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that are running now."""
    return [child for child, (_, _, parent) in _look().items() if parent == pid]


class CpuWindow:
    """CPU seconds by role over a window: ``with CpuWindow(named) as w: …`` (or
    :meth:`start` … :meth:`stop`), then ``w.seconds`` (role → CPU seconds) and ``w.wall``
    (seconds).

    ``named`` maps the pids the bench knows to their roles; a process one of them started
    has its role; any other process gets its role from its command
    (:data:`ROLE_BY_COMMAND`), else ``other``."""

    def __init__(self, named: dict[int, str]) -> None:
        self._named = dict(named)
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[str, float, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="cpu-window", daemon=True)
        self.seconds: dict[str, float] = {}
        self.wall = 0.0
        self.own = 0.0          # the sampling thread's CPU seconds

    def __enter__(self) -> CpuWindow:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> CpuWindow:
        self._t0 = time.monotonic()
        now = _look()
        self._first = {pid: cpu for pid, (_, cpu, _) in now.items()}
        self._last = now
        self._thread.start()
        return self

    def _sample(self) -> None:
        cpu0 = time.thread_time()
        while not self._stop.wait(INTERVAL):
            self._last.update(_look())
        self.own = time.thread_time() - cpu0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(_look())
        self.wall = time.monotonic() - self._t0
        seconds = dict.fromkeys(ROLES, 0.0)
        for pid, (command, cpu, parent) in self._last.items():
            role = (self._named.get(pid) or self._named.get(parent)
                    or ROLE_BY_COMMAND.get(command, "other"))
            seconds[role] += cpu - self._first.get(pid, 0.0)
        seconds["bench"] = max(0.0, seconds["bench"] - self.own)
        self.seconds = seconds


def report(label: str, unit: str, windows: list[CpuWindow], count: int) -> tuple[str, float]:
    """The line of these windows (``count`` calls or reports in all) and their CPU per
    ``unit`` in all, in seconds."""
    seconds = {role: sum(w.seconds.get(role, 0.0) for w in windows) for role in ROLES}
    wall = sum(w.wall for w in windows)
    total = sum(seconds.values())
    parts = ", ".join(f"{role} {seconds[role] / count * 1000:.2f}" for role in
                      sorted(seconds, key=lambda r: -seconds[r]) if seconds[role] > 0)
    busy = total / (wall * processors()) if wall > 0 else 0.0
    return (f"budget: CPU ms per {unit}, {label}: {parts}; {total / count * 1000:.2f} in all, "
            f"the {processors()} processors {busy:.0%} busy"), total / count
