"""bench/poll.py runs against the simulator and prints its summary (numbers not checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(120)

LAST = re.compile(r"poll_cpu_ms=\d+\.\d\d polls_per_s=\d+\.\d schools_per_core=\d+")


def test_bench_poll_times_empty_polls_and_prints_its_summary() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "poll.py"), "--polls", "12"],
                          check=False, capture_output=True, text=True, timeout=100, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "bench: 12 empty polls for BRIN 00AA"
    assert LAST.fullmatch(lines[-1]), lines[-1]
