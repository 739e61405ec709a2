"""bench/start.py starts the daemon and prints its summary (numbers not checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(180)

START = re.compile(r"start (\d): ready \(/readyz 200\) \d+\.\d\d s after start( \(a new store\))?")
LAST = re.compile(r"starts=2 first_s=(\d+\.\d\d) median_s=\d+\.\d\d max_s=(\d+\.\d\d) "
                  r"ready_le_2s=(met|NOT met)")


def test_bench_start_times_each_start_and_prints_its_summary() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "start.py"), "--starts", "2",
                           "--checkout", str(ROOT)],
                          check=False, capture_output=True, text=True, timeout=170, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == f"bench: 2 starts of the daemon of {ROOT}"
    starts = [START.fullmatch(line) for line in lines[1:3]]
    assert all(starts), lines
    assert [(m[1], bool(m[2])) for m in starts if m] == [("1", True), ("2", False)]
    last = LAST.fullmatch(lines[-1])
    assert last, lines[-1]
    first, worst, verdict = float(last[1]), float(last[2]), last[3]
    assert first <= worst and verdict == ("met" if worst <= 2.0 else "NOT met")


def test_bench_start_refuses_a_checkout_without_the_package(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "start.py"), "--checkout",
                           str(tmp_path)], check=False, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(f"--checkout {tmp_path} holds no "
                                                         "adapter package")
