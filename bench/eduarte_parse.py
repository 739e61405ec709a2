"""Benchmark: the eduarte plugin's streaming parser on a large generated export.

Usage: ``python bench/eduarte_parse.py [--mb 50] [--memory]`` (another Python than the
checkout's virtualenv runs it again in that one: ``bench/project.py``)

Prints rows/s and the ratio against a minimal hand-written loop doing the same
I/O (incremental UTF-8 decoding + ``csv.reader``) in the same run. With
``--memory`` it also traces allocations (slow: ~4x) and prints the peak, which
must stay far below the body size (the parser never materialises the export).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import project  # noqa: E402 - bench/: before any third-party import
project.use_venv()

from verzuim_eduarte.plugin import EduarteVendor  # noqa: E402
from verzuim_eduarte.schema import REGISTRATION_HEADER  # noqa: E402

ROW = ("AM-{n};Absentiemelding;731299;999973149;;12-05-2009;0344;00AA;00;Locatie Test;99011;BOL;2;"
       "06-10-2025;00:00;07-10-2025;23:59;;;;;OG;Geen geldige reden;Absent;N;J;"
       "\"Opmerking; met \"\"quotes\"\"\";06-10-2025 12:00:00;N\r\n")


def make_body(megabytes: float) -> bytes:
    block = "".join(ROW.format(n=n) for n in range(1000)).encode()
    header = ("\ufeff" + ";".join(REGISTRATION_HEADER) + "\r\n").encode()
    return header + block * max(1, int(megabytes * 1_000_000) // len(block))


def baseline(body: bytes) -> int:
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline=""),
                        delimiter=";")
    return sum(1 for _ in reader) - 1


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--mb", type=float, default=50.0)
    args.add_argument("--memory", action="store_true")
    opts = args.parse_args()
    body = make_body(opts.mb)
    vendor = EduarteVendor()
    t0 = time.perf_counter()
    rows = baseline(body)
    t1 = time.perf_counter()
    parsed = sum(1 for _ in vendor.parse(body, content_type="text/csv"))
    t2 = time.perf_counter()
    assert parsed == rows
    print(f"body {len(body) / 1e6:.1f} MB, {rows} rows")
    print(f"baseline csv.reader: {t1 - t0:.2f} s; eduarte parse: {t2 - t1:.2f} s "
          f"({rows / (t2 - t1):,.0f} rows/s); ratio {(t2 - t1) / (t1 - t0):.1f}x")
    if opts.memory:
        tracemalloc.start()
        sum(1 for _ in vendor.parse(body, content_type="text/csv"))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"tracemalloc peak during parse: {peak / 1e6:.2f} MB "
              f"({100 * peak / len(body):.2f}% of the body)")


if __name__ == "__main__":
    main()
