"""bench/e2e.py runs end to end on a few records (its numbers are not checked here)."""

from __future__ import annotations

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
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "e2e.py"), "--records", "20",
                           "--stall", "60"],
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
    # the daemon names its threads for the system (adapter.logging): CPU per thread
    by_thread = next(line for line in lines if "CPU ms per report by thread" in line)
    for role in ("duo", "submitter", "amqp-consumer-w"):
        assert f" {role} " in by_thread, by_thread


PHASE = re.compile(r"  (\w+) +(\d+\.\d\d) = +(\d+\.\d\d) \+ +(\d+\.\d\d) \+ +(-?\d+\.\d\d) +"
                   r"(\d+\.\d\d) = +(\d+\.\d\d) \+ +(\d+\.\d\d) \+ +(-?\d+\.\d\d)")


def test_bench_e2e_phases_time_each_step_of_the_call_on_both_sides() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "e2e.py"), "--records", "20",
                           "--stall", "60", "--phases"],
                          check=False, capture_output=True, text=True, timeout=180,
                          cwd=ROOT)
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-6000:]
    lines = done.stdout.strip().splitlines()
    assert LAST.fullmatch(lines[-1]), lines[-1]           # still the summary, last
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
