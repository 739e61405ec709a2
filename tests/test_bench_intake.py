"""bench/intake.py runs end to end on a small export (its numbers are not checked here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(200)

LAST = re.compile(r"rows=2000 seconds=\d+\.\d rows_per_s=\d+ last_vs_first=\d+\.\d\d rss_mb=\d+")


def test_bench_intake_stores_every_row_and_prints_its_summary() -> None:
    # --progress: a line on stderr while it waits, here as often as the polls come
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "intake.py"), "--rows", "2000",
                           "--students", "50", "--stall", "60", "--progress", "0.01"],
                          check=False, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert LAST.fullmatch(lines[-1]), lines[-1]
    assert "export 1: 2000 rows stored after" in done.stdout
    assert sum(line.startswith("fifth ") for line in lines) == 5
    # the first poll comes 50 ms after the step starts: at least one line, on stderr only
    assert re.search(r"^intake\.py: intake: \d+ of 2000 rows stored, [\d.]+/s$", done.stderr,
                     re.MULTILINE), done.stderr[-2000:]
    assert "intake.py: " not in done.stdout
