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
