"""Streaming: memory stays flat however large the export (ijson, two passes, chunked mapping)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

from magister_helpers import consume, generate_export

HERE = Path(__file__).resolve().parent


def traced_peak(vendor, body: bytes) -> tuple[int, dict[str, int]]:
    tracemalloc.start()
    try:
        counts = consume(vendor, body, chunk=100)
        return tracemalloc.get_traced_memory()[1], counts
    finally:
        tracemalloc.stop()


def test_tracemalloc_peak_does_not_grow_with_the_export(vendor):
    consume(vendor, generate_export(20_000)[0])          # warm up imports and caches
    small, n_small = generate_export(500_000, students=100)
    large, n_large = generate_export(2_500_000, students=100)
    peak_small, counts_small = traced_peak(vendor, small)
    peak_large, counts_large = traced_peak(vendor, large)
    assert counts_small["registraties"] == n_small and counts_large["registraties"] == n_large
    assert peak_large < len(large) / 5, (peak_large, len(large))
    assert peak_large < peak_small * 1.5 + 200_000, (peak_small, peak_large)


PROBE = textwrap.dedent("""
    import re, sys
    sys.path.insert(0, sys.argv[2])
    from magister_helpers import consume, vendor_for

    def status(key):
        with open("/proc/self/status") as f:
            return int(re.search(key + r":\\s+(\\d+) kB", f.read()).group(1)) * 1024

    vendor = vendor_for()
    with open(sys.argv[1], "rb") as f:
        body = f.read()
    consume(vendor, b'{"Export": {"Brin": "00AA"}, "Items": []}')
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    before = status("VmRSS")
    counts = consume(vendor, body)
    print(len(body), counts["registraties"], counts["rejections"], status("VmHWM") - before)
""")


def test_a_50_mb_export_parses_with_flat_memory(tmp_path):
    """Peak RSS of a fresh process grows by far less than the 50 MB body while it is parsed
    and mapped (a json.loads of the same body alone would need several times its size)."""
    body, n_items = generate_export(50_000_000)
    path = tmp_path / "export.json"
    path.write_bytes(body)
    del body
    result = subprocess.run([sys.executable, "-c", PROBE, str(path), str(HERE)],
                            capture_output=True, text=True, timeout=120, check=True)
    size, registraties, rejections, growth = map(int, result.stdout.split())
    assert size >= 50_000_000 and registraties == n_items and rejections == 0
    assert growth < 10_000_000, f"peak RSS grew by {growth} bytes for a {size} byte export"
