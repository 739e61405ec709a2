"""Memory and time of the magister plugin on large generated exports.

    python bench/magister_memory.py [MB ...]      # default: 10 50 100

Per size: items, seconds for parse + to_duo (chunks of 1000, as the daemon maps),
peak RSS growth over the body itself (VmHWM reset through /proc/self/clear_refs),
and — for sizes up to 50 MB — the tracemalloc peak (slow: tracemalloc traces every
allocation). The body is held in memory like an AMQP message; the parser must not
add anything proportional to it.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins" / "magister" / "tests"), str(ROOT / "bench")]

import project  # noqa: E402 - bench/: before any third-party import
project.use_venv()

from magister_helpers import consume, generate_export  # noqa: E402
from verzuim_magister.plugin import MagisterVendor  # noqa: E402


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(key + r":\s+(\d+) kB", f.read()).group(1)) * 1024


def main(sizes: list[int]) -> None:
    vendor = MagisterVendor({})
    consume(vendor, generate_export(10_000)[0])
    print(f"{'MB':>5} {'items':>8} {'seconds':>8} {'RSS growth MB':>14} {'tracemalloc MB':>15}")
    for mb in sizes:
        body, items = generate_export(mb * 1_000_000)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status("VmRSS")
        started = time.perf_counter()
        counts = consume(vendor, body)
        seconds = time.perf_counter() - started
        growth = (_status("VmHWM") - before) / 1e6
        assert counts["registraties"] == items
        traced = "-"
        if mb <= 50:
            tracemalloc.start()
            consume(vendor, body)
            traced = f"{tracemalloc.get_traced_memory()[1] / 1e6:.2f}"
            tracemalloc.stop()
        print(f"{mb:>5} {items:>8} {seconds:>8.1f} {growth:>14.1f} {traced:>15}")
        del body


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mb", nargs="*", type=int, default=[10, 50, 100],
                        help="export sizes in MB (default: 10 50 100)")
    main(parser.parse_args().mb)
