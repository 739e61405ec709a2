"""Benchmark: the daemon's start, from its process to ``/readyz`` answering 200 (issue 11's
readiness target: ≤ 2 s).

Usage::

    python bench/start.py [--starts 5] [--checkout PATH] [--amqp URL]

Writes a test PKI and a config (a SQLite store in a temporary directory), starts the DUO
simulator in its own process (as ``bench/e2e.py`` does), compiles the daemon's modules to
bytecode where they are not yet (as pip does for an installed package, and
``bench/e2e.py`` before its run), then starts ``python -m adapter run`` ``--starts`` times,
one after the other, each stopped with SIGTERM once ready. All starts share the store:
the first creates and migrates it, the later ones open it as a restarted daemon does.
The work directory is removed at the end.
Prints each start's seconds and, as its last line::

    starts=<n> first_s=<n> median_s=<n> max_s=<n> ready_le_2s=<met|NOT met>

``--checkout`` runs the daemon of another checkout of the project (its package and its
bundled plugins first on the daemon's ``PYTHONPATH``), to compare two versions on one
machine, one after the other (docs/performance.md, round 22). The broker objects get
unique names and are deleted afterwards. Like ``bench/e2e.py``, a Python without the
project's packages runs it again under the checkout's virtualenv (``bench/project.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import project  # noqa: E402 - bench/: before any third-party import
project.use_venv()

from intake import amqp_settings, cleanup_broker  # noqa: E402
from poll import load_e2e  # noqa: E402

from adapter.logging import configure_logging  # noqa: E402
from adapter.pki.testpki import init_test_pki  # noqa: E402

TARGET_S = 2.0


def daemon_env(checkout: Path) -> dict[str, str]:
    """The daemon's environment: ``checkout``'s package and bundled plugins first."""
    plugins = sorted((checkout / "plugins").glob("*/setup.cfg"))
    first = [str(checkout), *(str(setup.parent) for setup in plugins)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [*first, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--starts", type=int, default=5, help="starts, one after the other")
    args.add_argument("--checkout", type=Path, default=ROOT,
                      help="the project checkout whose daemon starts (default: this one)")
    args.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    opts = args.parse_args()
    if opts.starts < 1:
        args.error("--starts must be at least 1")
    project.use_broker(opts.amqp)
    checkout = opts.checkout.resolve()
    if not (checkout / "adapter" / "__main__.py").is_file():
        args.error(f"--checkout {checkout} holds no adapter package")
    configure_logging("warning", "console", stream=sys.stderr)
    e2e = load_e2e()
    work = Path(tempfile.mkdtemp(prefix="verzuim-bench-start-"))
    amqp = amqp_settings(opts.amqp, uuid.uuid4().hex[:10], 1024 * 1024)
    init_test_pki(work / "pki", school_oin=e2e.SCHOOL_OIN)
    sim = e2e.Simulator(work / "pki", work, 0.0)
    config, log, port = work / "bench.toml", work / "daemon.log", e2e.free_port()
    e2e.write_config(config, work / "pki", sim.soap_url, amqp, f"sqlite:///{work / 'store.db'}",
                     e2e.DEFAULT_CONCURRENCY, port)
    print(f"bench: {opts.starts} starts of the daemon of {checkout}", flush=True)
    e2e.compile_checkout(checkout)
    env = daemon_env(checkout)
    seconds: list[float] = []
    try:
        for n in range(opts.starts):
            proc = subprocess.Popen([sys.executable, "-m", "adapter", "--config", str(config),
                                     "run"], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                    cwd=work, env=env)
            try:
                seconds.append(e2e.wait_ready(port, proc, log))
            finally:
                e2e.stop_daemon(proc)
            print(f"start {n + 1}: ready (/readyz 200) {seconds[-1]:.2f} s after start"
                  + (" (a new store)" if n == 0 else ""), flush=True)
    finally:
        sim.stop()
        cleanup_broker(amqp)
        shutil.rmtree(work, ignore_errors=True)
    worst = max(seconds)
    print(f"starts={len(seconds)} first_s={seconds[0]:.2f} "
          f"median_s={statistics.median(seconds):.2f} max_s={worst:.2f} "
          f"ready_le_2s={'met' if worst <= TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
