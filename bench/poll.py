"""Benchmark: what one more school costs an idle daemon (issue 11: cost per school).

Usage::

    python bench/poll.py [--polls 300] [--interval 30]

The daemon's work per report does not depend on how many schools it serves; what
each school adds is the feedback poller's ``opvragenGewijzigdeVerzuimmeldingen``
for that school's BRIN every ``duo.poll_interval`` seconds, answered with an empty
page while nothing changed. This script writes a test PKI, starts the DUO simulator
in its own process (as ``bench/e2e.py`` does), builds the project's ``DuoClient`` as
the daemon does and asks for the changes since now ``--polls`` times in a row (the
first few warm up and are not counted). CPU per poll is this process's
``time.process_time()``.

Last line::

    poll_cpu_ms=<CPU per empty poll> polls_per_s=<n> schools_per_core=<schools whose
    polls at --interval take one core, CPU only>

Run it with the checkout importable (``PYTHONPATH``), like ``bench/e2e.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import project  # noqa: E402 - bench/: before any third-party import
project.use_venv()

from intake import amqp_settings  # noqa: E402

from adapter.config import load_settings  # noqa: E402
from adapter.duo.client import DuoClient  # noqa: E402
from adapter.logging import configure_logging  # noqa: E402
from adapter.pki.guard import CertificateGuard  # noqa: E402
from adapter.pki.testpki import init_test_pki  # noqa: E402

WARM = 5


def load_e2e() -> Any:
    """``bench/e2e.py`` (its simulator and config), loaded by path: the name ``e2e`` is
    the test package it imports from."""
    spec = importlib.util.spec_from_file_location("bench_e2e", ROOT / "bench" / "e2e.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--polls", type=int, default=300, help="empty polls to time")
    args.add_argument("--interval", type=float, default=30.0,
                      help="poll interval per school, seconds (duo.poll_interval)")
    opts = args.parse_args()
    if opts.polls <= WARM:
        args.error(f"--polls must exceed {WARM} (the first {WARM} only warm up)")
    configure_logging("warning", "console", stream=sys.stderr)
    e2e = load_e2e()
    BRIN, SCHOOL_OIN = e2e.BRIN, e2e.SCHOOL_OIN
    work = Path(tempfile.mkdtemp(prefix="verzuim-bench-poll-"))
    init_test_pki(work / "pki", school_oin=SCHOOL_OIN)
    sim = e2e.Simulator(work / "pki", work, 0)
    try:
        config = work / "bench.toml"
        e2e.write_config(config, work / "pki", sim.soap_url, amqp_settings(
            "amqp://guest:guest@127.0.0.1:5672/%2F", "poll", 1024), "sqlite:///" + str(
            work / "unused.db"), 1, e2e.free_port())
        settings = load_settings(config)
        credentials = CertificateGuard(settings, {}).load_checked()
        client = DuoClient(settings.duo, settings.school, schools=settings.all_schools,
                           credentials=credentials)
        since = datetime.now(UTC)
        print(f"bench: {opts.polls} empty polls for BRIN {BRIN}", flush=True)
        for _ in range(WARM):
            client.opvragen_gewijzigd(brin=BRIN, since=since)
        n = opts.polls - WARM
        cpu0, t0 = time.process_time(), time.monotonic()
        for i in range(n):
            page = client.opvragen_gewijzigd(brin=BRIN, since=since)
            if page.items:
                raise SystemExit("the feed was not empty: the bench expects a quiet DUO")
            if (i + 1) % 100 == 0:
                print(f"  {i + 1} polls", flush=True)
        cpu, seconds = time.process_time() - cpu0, time.monotonic() - t0
        client.close()
    finally:
        sim.stop()
    per_poll = cpu / n
    print(f"poll_cpu_ms={per_poll * 1000:.2f} polls_per_s={n / seconds:.1f} "
          f"schools_per_core={opts.interval / per_poll:.0f}")


if __name__ == "__main__":
    main()
