"""bench/e2e.py runs end to end on a few records (its numbers are not checked here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(200)

LAST = re.compile(r"ratio=\d+\.\d\d adapter_rps=\d+\.\d baseline_rps=\d+\.\d "
                  r"cpu_ratio=\d+\.\d\d p50_ms=\d+ p99_ms=\d+ rss_mb=\d+")


def test_bench_e2e_registers_every_record_and_prints_its_summary() -> None:
    # --stall: a bench that stops seeing events ends itself, with the daemon's log
    # --progress: the long steps' lines on stderr, here as often as they can come
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "e2e.py"), "--records", "20",
                           "--stall", "60", "--progress", "0.01"],
                          check=False, capture_output=True, text=True, timeout=180,
                          cwd=ROOT)
    # a stalled bench ends with its account of the daemon and the store (bench/stall.py),
    # its one-line summary last
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-6000:]
    lines = done.stdout.strip().splitlines()
    assert LAST.fullmatch(lines[-1]), lines[-1]
    assert "adapter: 20 registered (DUO's ledger: 20)" in done.stdout
    assert "baseline: DuoClient alone, 20 calls" in done.stdout
    assert "baseline again: 20 calls" in done.stdout      # after the adapter, too
    # the baseline's client is built before its first call, well over 0.01 s: each
    # baseline prints at least one progress line; stdout has none
    assert len(re.findall(r"^e2e\.py: baseline: \d+ of 20 calls, [\d.]+/s$", done.stderr,
                          re.MULTILINE)) >= 2, done.stderr[-2000:]
    assert "e2e.py: " not in done.stdout
    # the daemon names its threads for the system (adapter.logging): CPU per thread
    by_thread = next(line for line in lines if "CPU ms per report by thread" in line)
    for role in ("duo", "submitter", "amqp-consumer-w"):
        assert f" {role} " in by_thread, by_thread
    # the machine's CPU by process (bench/budget.py), per call and per report
    base, adapter = (budget_of(lines, f"budget: CPU ms per {unit}, {label}: ")
                     for unit, label in (("call", "baseline (both runs)"), ("report", "adapter")))
    assert base["simulator"] > 0 and base["bench"] > 0 and "daemon" not in base
    assert adapter["simulator"] > 0 and adapter["daemon"] > 0
    # the budget's daemon is the daemon the bench measures: the same window, up to the
    # clock ticks of /proc (two at each end, over 20 reports)
    per_report = float(re.search(r"([\d.]+) ms daemon CPU per report", done.stdout).group(1))
    assert abs(adapter["daemon"] - per_report) <= 4 / CLK_TCK / 20 * 1000 + 0.01, (
        adapter, per_report)
    # and its client is the baseline's, less the budget's own sampling
    per_call = float(re.search(r"baseline: both runs: [\d.]+ calls/s, ([\d.]+) ms CPU",
                               done.stdout).group(1))
    assert abs(base["bench"] - per_call) <= 8 / CLK_TCK / 32 * 1000 + 0.01, (base, per_call)
    allowed = next(line for line in lines if line.startswith("budget: CPU per call / CPU per"))
    assert float(allowed.split(": ")[2].split()[0]) == pytest.approx(
        base["all"] / adapter["all"], abs=0.011), allowed
    gauge = next(line for line in lines if line.startswith("budget: the daemon's CPU / the"))
    assert float(gauge.rsplit(" ", 1)[1]) == pytest.approx(
        adapter["daemon"] / adapter["simulator"], rel=0.05, abs=0.01), gauge
    # the same work in the two windows: the simulator's per report against its per call,
    # the daemon's DUO threads per report against the client alone per call
    same = re.fullmatch(r"budget: the same work in the adapter's run / in the baseline's: the "
                        r"simulator ([\d.]+), the DUO calls \(the daemon's duo and duo-worker "
                        r"threads / the client alone\) ([\d.]+)",
                        next(line for line in lines if line.startswith("budget: the same work")))
    assert same, lines
    assert float(same[1]) == pytest.approx(adapter["simulator"] / base["simulator"],
                                           rel=0.02, abs=0.01), (same[0], base, adapter)
    duo = sum(float(m) for m in re.findall(r" duo(?:-worker)? ([\d.]+)", by_thread))
    assert float(same[2]) == pytest.approx(duo / per_call, rel=0.02, abs=0.01), (same[0], duo)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def budget_of(lines: list[str], head: str) -> dict[str, float]:
    """role → ms of a ``budget:`` line, and ``all``: the roles add up to it."""
    line = next(line for line in lines if line.startswith(head))
    roles, rest = line[len(head):].split("; ")
    out = {role: float(ms) for role, ms in (part.rsplit(" ", 1) for part in roles.split(", "))}
    out["all"] = float(rest.split()[0])
    assert sum(v for k, v in out.items() if k != "all") == pytest.approx(out["all"], abs=0.05)
    assert re.search(r"the \d+ processors \d+% busy$", rest), line
    return out


PHASE = re.compile(r"  (\w+) +(\d+\.\d\d) = +(\d+\.\d\d) \+ +(\d+\.\d\d) \+ +(-?\d+\.\d\d) +"
                   r"(\d+\.\d\d) = +(\d+\.\d\d) \+ +(\d+\.\d\d) \+ +(-?\d+\.\d\d)")


def test_bench_e2e_phases_time_each_step_of_the_call_on_both_sides() -> None:
    # With the DUO calls in the daemon's worker process (--duo-worker): the steps are
    # timed there, the slot runs in the daemon, and both count as the daemon's.
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "e2e.py"), "--records", "20",
                           "--stall", "60", "--phases", "--duo-worker"],
                          check=False, capture_output=True, text=True, timeout=180,
                          cwd=ROOT)
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-6000:]
    lines = done.stdout.strip().splitlines()
    assert LAST.fullmatch(lines[-1]), lines[-1]           # still the summary, last
    assert "the DUO calls in a worker process" in lines[0], lines[0]
    by_thread = next(line for line in lines if "CPU ms per report by thread" in line)
    assert " duo-worker " in by_thread, by_thread         # the worker's CPU is the daemon's
    head = next(i for i, line in enumerate(lines) if line.startswith("phases of an"))
    # 20 calls in each baseline run (2), and at least one per report in the daemon
    assert "baseline (40 calls)" in lines[head + 1], lines[head + 1]
    daemon_calls = int(re.search(r"adapter \((\d+) calls\)", lines[head + 1]).group(1))
    assert daemon_calls >= 20, lines[head + 1]
    steps = {}
    for line in lines[head + 2:head + 7]:
        m = PHASE.fullmatch(line)
        assert m, line
        steps[m.group(1)] = [float(v) for v in m.groups()[1:]]
    assert list(steps) == ["call", "build", "sign", "post", "interpret"]
    for side in (slice(0, 4), slice(4, 8)):
        call = steps["call"][side]
        parts = sum(steps[s][side][0] for s in ("build", "sign", "post", "interpret"))
        assert 0 < parts <= call[0] + 0.03                # the steps lie inside the call
        assert call[1] > 0 and steps["sign"][side][1] > 0  # CPU was counted
    runs = next(line for line in lines if "slot runs for 4 slots" in line)
    assert int(runs.split()[1]) >= 1, runs
