"""Benchmark: one large export of registrations through the broker into a running daemon.

Usage::

    python bench/intake.py [--rows 200000] [--students 1000] [--vendor eduarte|magister]
                           [--store sqlite|postgresql://…] [--exports 1] [--amqp URL]
                           [--progress SECONDS]

Writes a test PKI, starts the DUO simulator (in this process) and the daemon
(``python -m adapter run``, a subprocess importing what this process imports),
publishes ``--exports`` generated exports of ``--rows`` registration rows each
(``tests/bulk_exports.py``; every row is one registration through the vendor's
plugin, new ids per export, so each export after the first lands in a filled
store) and follows the registrations table (``max(id)``: a cheap index look-up, where
``count(*)`` would scan a growing table twenty times a second on the daemon's CPUs)
until every row is stored, then checks ``count(*)``. The broker objects get unique
names (deleted afterwards); a PostgreSQL store gets a fresh database on that server
(dropped afterwards).

Prints the rate per fifth of all rows (polled every 50 ms on the monotonic clock;
the first fifth counts from the first committed chunk, so the one-off transfer
and read-through of the body are in ``seconds`` but not in the fifths),
the daemon's peak RSS (``VmHWM``), and as its last line::

    rows=<n> seconds=<n> rows_per_s=<n> last_vs_first=<last fifth's rate / first's> rss_mb=<n>

While it waits, a line on stderr every ``--progress`` seconds (default 30) says how many
rows are stored (``bench/progress.py``).

Target on the 2-core dev machine (docs/performance.md): 200,000 rows within
120 s, ``last_vs_first`` ≥ 0.8, RSS ≤ 200 MB, on SQLite and on PostgreSQL.
The daemon loads the vendor plugins by entry point: a Python without them (or the rest
of the project's packages) runs the script again under the checkout's virtualenv
(``bench/project.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import project  # noqa: E402 - bench/: before any third-party import
project.use_venv()

import pika  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bulk_exports import BRIN, export  # noqa: E402
from progress import EVERY, Progress  # noqa: E402
from support import store_secrets  # noqa: E402

from adapter.config import AmqpSettings  # noqa: E402
from adapter.logging import configure_logging  # noqa: E402
from adapter.pki.testpki import init_test_pki  # noqa: E402
from adapter.simulator.server import SimulatorServer  # noqa: E402
from adapter.sis import connection_parameters, publish_export  # noqa: E402

SCHOOL_OIN = "00000099000000000001"
POLL_SECONDS = 0.05


def amqp_settings(url: str, tag: str, max_body: int) -> AmqpSettings:
    return AmqpSettings(url=url, sis_exchange=f"bench.{tag}.sis",
                        inbox_queue=f"bench.{tag}.inbox", adapter_exchange=f"bench.{tag}.adapter",
                        dead_exchange=f"bench.{tag}.dead", dead_queue=f"bench.{tag}.dead",
                        max_body_bytes=max_body)


def write_config(path: Path, pki: Path, soap_url: str, amqp: AmqpSettings, store: str) -> None:
    path.write_text("\n".join([
        "[school]", f'brin = "{BRIN}"', f'oin = "{SCHOOL_OIN}"',
        "[duo]", f'url = "{soap_url}"', f'ca_bundle = "{pki / "trust-bundle.pem"}"',
        f'client_cert = "{pki / "school.pem"}"', f'client_key = "{pki / "school-key.pem"}"',
        f'signature_cert = "{pki / "duo.pem"}"', "poll_interval = 5.0",
        "[amqp]", f'url = "{amqp.url}"', f'sis_exchange = "{amqp.sis_exchange}"',
        f'inbox_queue = "{amqp.inbox_queue}"', f'adapter_exchange = "{amqp.adapter_exchange}"',
        f'dead_exchange = "{amqp.dead_exchange}"', f'dead_queue = "{amqp.dead_queue}"',
        f"max_body_bytes = {amqp.max_body_bytes}",
        "[store]", f'url = "{store}"', *store_secrets(path.parent, store),
        "[logging]", 'format = "json"',
        "[health]", "port = 0",
    ]) + "\n")


def fresh_pg_database(url: str, tag: str) -> tuple[str, sa.Engine]:
    """A new database beside ``url``'s: (its URL, an admin engine to drop it with)."""
    base = sa.make_url(url)
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"verzuim_bench_{tag}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False), admin


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """The daemon's peak (``VmHWM``) or current (``VmRSS``) resident set, in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(field + r":\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


def wait_consumer(amqp: AmqpSettings, proc: subprocess.Popen[bytes], log: Path) -> None:
    conn = pika.BlockingConnection(connection_parameters(amqp))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited with {proc.returncode}:\n"
                                 + log.read_text()[-3000:])
            try:
                ch = conn.channel()
                if ch.queue_declare(amqp.inbox_queue, passive=True).method.consumer_count:
                    return
            except pika.exceptions.ChannelClosedByBroker:
                pass
            time.sleep(0.2)
        raise SystemExit("daemon did not start consuming within 60 s")
    finally:
        conn.close()


def crossing(samples: list[tuple[float, int]], target: float) -> float:
    """The time at which the stored count reached ``target`` (linear between samples)."""
    for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
        if c1 >= target:
            return t0 + (t1 - t0) * ((target - c0) / (c1 - c0) if c1 > c0 else 1.0)
    return samples[-1][0]


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rows", type=int, default=200_000)
    args.add_argument("--students", type=int, default=1000)
    args.add_argument("--vendor", choices=("eduarte", "magister"), default="eduarte")
    args.add_argument("--store", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args.add_argument("--exports", type=int, default=1, help="exports of --rows each")
    args.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    args.add_argument("--stall", type=float, default=300.0,
                      help="give up when nothing was stored for this many seconds")
    args.add_argument("--keep", action="store_true", help="keep the work directory")
    args.add_argument("--progress", type=float, default=EVERY, metavar="SECONDS",
                      help="a line on stderr this often while the rows are stored, saying "
                           f"how many are; 0: none (default {EVERY:.0f})")
    opts = args.parse_args()
    project.use_broker(opts.amqp)
    configure_logging("warning", "console", stream=sys.stderr)

    tag = uuid.uuid4().hex[:10]
    work = Path(tempfile.mkdtemp(prefix="verzuim-bench-"))
    bodies = [export(opts.vendor, opts.rows, opts.students, first_id=1 + i * opts.rows)
              for i in range(opts.exports)]
    amqp = amqp_settings(opts.amqp, tag, max(10 * 1024 * 1024, 2 * len(bodies[0][0])))
    admin: sa.Engine | None = None
    if opts.store == "sqlite":
        store = f"sqlite:///{work / 'store.db'}"
    else:
        store, admin = fresh_pg_database(opts.store, tag)
    init_test_pki(work / "pki", school_oin=SCHOOL_OIN)
    sim = SimulatorServer(work / "pki", port=0, control_port=0)
    sim.start()
    config, log = work / "bench.toml", work / "daemon.log"
    write_config(config, work / "pki", sim.soap_url, amqp, store)
    print(f"bench: {opts.exports} x {opts.rows} {opts.vendor} rows of {opts.students} students, "
          f"{len(bodies[0][0]) / 1e6:.1f} MB per export, store {opts.store}")
    proc = subprocess.Popen([sys.executable, "-m", "adapter", "--config", str(config), "run"],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=work,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                [str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)})
    engine = sa.create_engine(store.replace("postgresql://", "postgresql+psycopg://", 1))
    samples: list[tuple[float, int]] = []
    rss = 0.0
    peak_seen = (0.0, 0)   # (largest VmRSS sampled, rows stored then)
    try:
        wait_consumer(amqp, proc, log)
        started = time.monotonic()
        total = opts.rows * opts.exports
        progress = Progress("intake", total, "rows stored", every=opts.progress)
        for i, (body, content_type) in enumerate(bodies):
            publish_export(amqp, body=body, vendor=opts.vendor, content_type=content_type)
            goal = opts.rows * (i + 1)
            last_change = time.monotonic()
            while not samples or samples[-1][1] < goal:
                time.sleep(POLL_SECONDS)
                with engine.connect() as conn:
                    count = conn.execute(sa.text(
                        "SELECT coalesce(max(id), 0) FROM registraties")).scalar_one()
                now = time.monotonic() - started
                if not samples or count != samples[-1][1]:
                    last_change = time.monotonic()
                samples.append((now, int(count)))
                progress.show(int(count))
                peak_seen = max(peak_seen, (rss_mb(proc.pid, "VmRSS"), int(count)))
                if proc.poll() is not None:
                    raise SystemExit(f"daemon exited with {proc.returncode}:\n"
                                     + log.read_text()[-3000:])
                if time.monotonic() - last_change > opts.stall:
                    raise SystemExit(f"nothing stored for {opts.stall:.0f} s "
                                     f"({count} of {total} rows)")
            print(f"export {i + 1}: {opts.rows} rows stored after {samples[-1][0]:.1f} s")
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM registraties")).scalar_one()
        if stored != total:
            raise SystemExit(f"{stored} registrations stored, {total} expected")
        rss = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        engine.dispose()
        sim.stop()
        cleanup_broker(amqp)
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "verzuim_bench_{tag}" WITH (FORCE)')
            admin.dispose()
        if opts.keep:
            print(f"bench: work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"largest RSS sampled: {peak_seen[0]:.0f} MB with {peak_seen[1]} rows stored")
    report(samples, total, rss)


def report(samples: list[tuple[float, int]], total: int, rss: float) -> None:
    first = next(i for i, (_, c) in enumerate(samples) if c > 0)
    t0, c0 = samples[first]
    if c0 >= total / 5:  # a run this small: count from the last sample before any commit
        t0, c0 = samples[first - 1] if first else (0.0, 0)
    edges = [(t0, c0)] + [(crossing(samples, total * k / 5), total * k // 5) for k in range(1, 6)]
    rates = []
    for k, ((ta, ca), (tb, cb)) in enumerate(zip(edges, edges[1:]), start=1):
        rate = (cb - ca) / (tb - ta) if tb > ta and cb > ca else float("inf")
        rates.append(rate)
        print(f"fifth {k}: rows {ca}-{cb} in {tb - ta:.1f} s, {rate:,.0f} rows/s")
    seconds = samples[-1][0]
    print(f"daemon peak RSS: {rss:.0f} MB; first commit seen after {t0:.1f} s")
    print(f"rows={total} seconds={seconds:.1f} rows_per_s={total / seconds:.0f} "
          f"last_vs_first={rates[-1] / rates[0]:.2f} rss_mb={rss:.0f}")


def cleanup_broker(amqp: AmqpSettings) -> None:
    try:
        conn = pika.BlockingConnection(connection_parameters(amqp))
    except pika.exceptions.AMQPError:
        return
    try:
        ch = conn.channel()
        for queue in (amqp.inbox_queue, amqp.dead_queue):
            ch.queue_delete(queue)
        for exchange in (amqp.sis_exchange, amqp.adapter_exchange, amqp.dead_exchange):
            ch.exchange_delete(exchange)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
