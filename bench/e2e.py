"""Benchmark: the daemon end to end against its own DUO calls alone (issue 11, step 8).

Usage::

    python bench/e2e.py [--records 1000] [--concurrency N] [--duo-latency-ms 0]
                        [--backlog] [--store sqlite|postgresql://…] [--baseline-records N]
                        [--duo-worker] [--amqp URL] [--phases] [--progress SECONDS]

Writes a test PKI and starts the DUO simulator in its own process (``python -m
adapter simulator``), so that no run's CPU includes the simulator's. Three runs
against that one simulator, its state reset between them (``POST /control/reset``):

* baseline: the project's ``DuoClient`` alone, built as the daemon builds it
  (``Daemon._new_client``: the configured school, the certificates through the
  ``CertificateGuard``), ``aanleveren`` of each of the N reports with a fresh
  document id, from a ``ThreadPoolExecutor`` of ``--concurrency`` workers (default:
  the daemon's ``duo.max_concurrency``). CPU per call is this process's
  ``time.process_time()`` over the run (nothing else runs in it then). It runs
  twice, before the adapter and again after it (the simulator reset), and the
  targets use both: the machine is shared, its speed drifts during a bench, and
  the two runs around the adapter's measure it as it was meanwhile (all calls over
  all their time; the mean CPU per call).
* adapter: the daemon (``python -m adapter run``, a generated config with
  ``duo.max_concurrency = --concurrency``). N canonical reports, one per message,
  distinct students (valid BSNs), published to the SIS exchange; the time runs from
  the first publish to the last ``registered`` event read from a queue bound to
  the adapter exchange. Latency is publish → ``registered`` per ``source_id``.
  The daemon is its process and the processes it starts: with ``--duo-worker``
  (``duo.worker_process = true``) the DUO worker that makes its DUO calls, started at
  the first call. Its CPU is ``utime + stime`` from ``/proc/<pid>/stat`` of both (from
  ready to the last event), also per thread (its threads carry their names to the
  system, ``adapter.logging.name_native``; the DUO pool's as ``duo``, the worker's as
  ``duo-worker``), its peak RSS the two peaks (``VmHWM``) added up. With
  ``--backlog`` every message is published before the daemon starts, and the time
  runs from its start (latency then includes the wait in the queue, and says little).

Over the baseline's timed calls and the adapter's run it also adds up the CPU of every
process on the machine by role (``bench/budget.py``: the simulator, the daemon, the bench,
PostgreSQL, the broker, the rest), per call and per report, and how busy the processors
were: the lines starting ``budget:``. When both runs keep the processors equally busy,
``ratio`` follows from them: all CPU per call / all CPU per report. One of them sets
the daemon's CPU against the simulator's in the same run, which does the same work in
every run: to compare two versions of the daemon on a machine whose speed drifts. Another
sets the same work in the two windows against each other: the simulator's CPU per report
against its CPU per call in the baseline, and the daemon's DUO threads' per report (its
``duo`` threads and its worker's) against the client's alone per call. A figure away
from 1 is, most often, the machine running faster or slower during the adapter's run
than during the baseline's; a run's ``ratio`` moves with it.

``--phases`` also times each step of an ``aanleveren`` call on both sides, with the
time its thread waited for a processor, and counts the submitter's slot runs
(``bench/phases.py``).

``--progress`` prints, every so many seconds (default 30) on stderr, how far the
baseline's calls, the publishing and the adapter's run are (``bench/progress.py``).

``--duo-latency-ms`` makes the simulator hold each answer that long (its ``delay``
fault for every call, set again after each reset). The broker objects get unique
names (deleted afterwards); a PostgreSQL store gets a fresh database on that server
(dropped afterwards).

Prints the issue's targets, each met or not, and as its last line::

    ratio=<adapter_rps/baseline_rps> adapter_rps=<n> baseline_rps=<n> cpu_ratio=<n> p50_ms=<n> p99_ms=<n> rss_mb=<n>

(``cpu_ratio``: the daemon's CPU per report / the baseline's CPU per call.)
The daemon loads the vendor plugins by entry point: a Python without them (or the rest
of the project's packages) runs the script again under the checkout's virtualenv
(``bench/project.py``). Before the daemon starts, the checkout's modules are
compiled to bytecode where they are not yet (``compileall``), as pip compiles an
installed package: an editable checkout on a machine with ``PYTHONDONTWRITEBYTECODE``
would otherwise compile them at every start, in the time to ready.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import project  # noqa: E402 - bench/: before any third-party import
project.use_venv()

import pika  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from e2e.records import make_bsn, record  # noqa: E402
import phases  # noqa: E402
import budget  # noqa: E402
from progress import EVERY, Progress  # noqa: E402
from intake import amqp_settings, cleanup_broker, fresh_pg_database, rss_mb  # noqa: E402
from stall import diagnose  # noqa: E402
from support import store_secrets  # noqa: E402

from adapter.config import AmqpSettings, DuoSettings, load_settings  # noqa: E402
from adapter.domain.codec import melding_from_dict  # noqa: E402
from adapter.duo.client import DuoClient  # noqa: E402
from adapter.logging import configure_logging  # noqa: E402
from adapter.pki.guard import CertificateGuard  # noqa: E402
from adapter.pki.testpki import init_test_pki  # noqa: E402
from adapter.sis import connection_parameters, declare_event_tap, declare_topology  # noqa: E402

SCHOOL_OIN = "00000099000000000001"
BRIN = "00AA"
DEFAULT_CONCURRENCY = DuoSettings.model_fields["max_concurrency"].default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(phases_dir: Path | None = None) -> dict[str, str]:
    """The environment of a child process; with ``phases_dir``, the daemon's, probed as
    ``bench/phases.py`` describes."""
    first = [str(ROOT)]
    extra: dict[str, str] = {}
    if phases_dir is not None:
        first[:0] = [str(ROOT / "bench" / "phases_site"), str(ROOT / "bench")]
        extra[phases.ENV] = str(phases_dir)
    return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(
        [*first, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def compile_checkout(checkout: Path = ROOT) -> None:
    """The daemon's modules in ``checkout`` (the package and the bundled plugins) as
    bytecode beside them, where they are missing or older than their source: what pip
    does when it installs the package, so the daemon's start is timed as installed."""
    for folder in (checkout / "adapter", *sorted((checkout / "plugins").glob("*/verzuim_*"))):
        if not compileall.compile_dir(folder, quiet=1):
            raise SystemExit(f"bench: {folder} does not compile")


def write_config(path: Path, pki: Path, soap_url: str, amqp: AmqpSettings, store: str,
                 concurrency: int, health_port: int, *, worker: bool = False) -> None:
    path.write_text("\n".join([
        "[school]", f'brin = "{BRIN}"', f'oin = "{SCHOOL_OIN}"',
        "[duo]", f'url = "{soap_url}"', f'ca_bundle = "{pki / "trust-bundle.pem"}"',
        f'client_cert = "{pki / "school.pem"}"', f'client_key = "{pki / "school-key.pem"}"',
        f'signature_cert = "{pki / "duo.pem"}"', "poll_interval = 5.0",
        f"max_concurrency = {concurrency}", f"worker_process = {str(worker).lower()}",
        "[amqp]", f'url = "{amqp.url}"', f'sis_exchange = "{amqp.sis_exchange}"',
        f'inbox_queue = "{amqp.inbox_queue}"', f'adapter_exchange = "{amqp.adapter_exchange}"',
        f'dead_exchange = "{amqp.dead_exchange}"', f'dead_queue = "{amqp.dead_queue}"',
        "[store]", f'url = "{store}"', *store_secrets(path.parent, store),
        "[logging]", 'format = "json"',
        "[health]", f"port = {health_port}",
    ]) + "\n")


def family(pid: int) -> list[int]:
    """``pid`` and the processes it started (the daemon's DUO worker): the daemon's CPU
    and memory are theirs together."""
    return [pid, *budget.children(pid)]


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its children (all their threads), in seconds; a child
    that ended is not counted."""
    total = 0.0
    for member in family(pid):
        try:
            total += budget.stat_seconds(Path(f"/proc/{member}/stat").read_text())
        except OSError:         # it ended meanwhile
            continue
    return total


def thread_cpu(pid: int) -> dict[str, float]:
    """utime + stime per role of the threads of ``pid`` and its children, in seconds: the
    daemon names its threads for the system (``adapter.logging``), the DUO pool's
    ``duo_0``… as ``duo``, its DUO worker's ``duo-worker_0``… as ``duo-worker``."""
    out: dict[str, float] = {}
    for member in family(pid):
        try:
            tasks = list(Path(f"/proc/{member}/task").iterdir())
        except OSError:         # it ended meanwhile
            continue
        for task in tasks:
            try:
                name = (task / "comm").read_text().strip()
                stat = (task / "stat").read_text()
            except OSError:         # the thread ended meanwhile
                continue
            role = re.sub(r"_\d+$", "", name)
            out[role] = out.get(role, 0.0) + budget.stat_seconds(stat)
    return out


def peak_rss_mb(pid: int) -> float:
    """The peak resident sets of ``pid`` and its children, added up (their peaks need not
    have come at one moment: an upper bound), in MB."""
    total = 0.0
    for member in family(pid):
        try:
            total += rss_mb(member)
        except OSError:         # it ended meanwhile
            continue
    return total


def make_records(n: int, seed: int = 20261205) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    while len(out) < n:
        bsn = make_bsn(rng)
        if bsn in seen:
            continue
        seen.add(bsn)
        out.append(record(rng, soort="V3", bsn=bsn, source_id=f"bench-{len(out):07d}"))
    return out


class Simulator:
    """The simulator in its own process; its control API for reset and latency."""

    def __init__(self, pki: Path, work: Path, latency_ms: float) -> None:
        self.port, self.control_port = free_port(), free_port()
        self.soap_url = f"https://127.0.0.1:{self.port}/verzuim/v1"
        self.control_url = f"http://127.0.0.1:{self.control_port}"
        self.latency_ms = latency_ms
        # No feedback during the runs: the municipality waits an hour.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adapter", "simulator", "--pki", str(pki),
             "--port", str(self.port), "--control-port", str(self.control_port),
             "--delay-behandeling", "3600", "--delay-afgesloten", "3600"],
            stdout=(work / "simulator.log").open("ab"), stderr=subprocess.STDOUT, cwd=work,
            env=child_env())
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{self.control_url}/control/ledger", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the simulator did not start:\n"
                                     + (work / "simulator.log").read_text()[-3000:])
                time.sleep(0.1)
        self.reset()

    def reset(self) -> None:
        requests.post(f"{self.control_url}/control/reset", timeout=10).raise_for_status()
        if self.latency_ms > 0:
            requests.post(f"{self.control_url}/control/faults", timeout=10, json={
                "mode": "delay", "count": 10**9, "seconds": self.latency_ms / 1000,
            }).raise_for_status()

    def registered(self, timeout: float = 60) -> int:
        ledger = requests.get(f"{self.control_url}/control/ledger", timeout=timeout).json()
        return len(ledger)

    def registered_if_known(self) -> str:
        """:meth:`registered` for an account of a stall: the simulator may be stuck too."""
        try:
            return str(self.registered(timeout=5))
        except requests.RequestException as exc:
            return f"unknown ({type(exc).__name__})"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_baseline(config: Path, records: list[dict[str, Any]], concurrency: int,
                 window: budget.CpuWindow, progress: Progress) -> tuple[float, float]:
    """(calls per second, CPU seconds per call) of DuoClient.aanleveren alone; ``window``
    adds up the machine's CPU over the timed calls; ``progress`` is told of each call."""
    settings = load_settings(config)
    credentials = CertificateGuard(settings, {}).load_checked()
    client = DuoClient(settings.duo, settings.school, schools=settings.all_schools,
                       credentials=credentials)
    meldingen = [melding_from_dict(r) for r in records]

    def send(melding: Any) -> None:      # a refusal raises, and ends the bench
        client.aanleveren(melding, document_id=str(uuid.uuid4()))
        progress.add()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, meldingen[:concurrency]))          # warm: TLS sessions, zeep
        with window:
            cpu0, t0 = time.process_time(), time.monotonic()
            list(pool.map(send, meldingen[concurrency:]))
            seconds, cpu = time.monotonic() - t0, time.process_time() - cpu0
    cpu -= window.own                   # the window's sampling is not the client's
    client.close()
    n = len(meldingen) - concurrency
    return n / seconds, cpu / n


class EventTap(threading.Thread):
    """Records the arrival time of each ``registered`` event by source_id."""

    def __init__(self, amqp: AmqpSettings, queue: str, expected: int) -> None:
        super().__init__(daemon=True)
        self.conn = pika.BlockingConnection(connection_parameters(amqp))
        self.channel = self.conn.channel()
        declare_topology(self.channel, amqp)
        declare_event_tap(self.channel, amqp, queue)
        self.queue, self.expected = queue, expected
        self.arrivals: dict[str, float] = {}
        self.others: dict[str, int] = {}
        self.unacked = 0        # the last delivery tag not acked yet
        self.done = threading.Event()

    def run(self) -> None:
        self.channel.basic_qos(prefetch_count=1000)

        def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
            now = time.monotonic()
            kind = method.routing_key.rsplit(".", 1)[-1]
            if kind == "registered":
                self.arrivals.setdefault(json.loads(body)["source_id"], now)
                if len(self.arrivals) >= self.expected:
                    self.done.set()
            else:
                self.others[kind] = self.others.get(kind, 0) + 1
            self.unacked = method.delivery_tag

        tag = self.channel.basic_consume(self.queue, on_message)
        try:
            while not self.stopping:
                self.conn.process_data_events(time_limit=0.2)
                if self.unacked:
                    # One ack for what this round brought: the tap shares the machine
                    # with the daemon it measures, and an ack per event cost the broker
                    # and this process about 5,800 frames a burst.
                    self.channel.basic_ack(self.unacked, multiple=True)
                    self.unacked = 0
        finally:     # pika's connection belongs to this thread: close it here
            try:
                self.channel.basic_cancel(tag)
                self.channel.queue_delete(self.queue)
                self.conn.close()
            except pika.exceptions.AMQPError:
                pass

    stopping = False

    def stop(self) -> None:
        self.stopping = True
        self.join(timeout=10)


#: Connections publishing at once: a confirm is awaited per message, so one connection
#: took 1.3 s for 3,000 messages on an idle machine; four take about 1.5 s beside the
#: working daemon (docs/performance.md, round 11).
PUBLISHERS = 4


def publish_all(amqp: AmqpSettings, records: list[dict[str, Any]],
                progress: Progress) -> dict[str, float]:
    """Publish each record as its own canonical message; the monotonic time of each.
    ``progress`` is told of each message published.

    Confirmed and ``mandatory``, as a SIS must publish: without confirms the broker may
    drop a message unseen, and the run would wait for a report that never came. The
    records are published in :data:`PUBLISHERS` interleaved slices, each on its own
    connection (distinct students: their order does not matter)."""
    conn = pika.BlockingConnection(connection_parameters(amqp))
    try:
        declare_topology(conn.channel(), amqp)
    finally:
        conn.close()

    def publish(part: list[dict[str, Any]]) -> dict[str, float]:
        times: dict[str, float] = {}
        conn = pika.BlockingConnection(connection_parameters(amqp))
        try:
            ch = conn.channel()
            ch.confirm_delivery()
            for rec in part:
                body = json.dumps(rec).encode()
                props = pika.BasicProperties(delivery_mode=2, message_id=str(uuid.uuid4()),
                                             content_type="application/json",
                                             timestamp=int(time.time()), app_id="verzuim-adapter")
                times[rec["source_id"]] = time.monotonic()
                ch.basic_publish(amqp.sis_exchange, "canonical.export", body, props,
                                 mandatory=True)
                progress.add()
        finally:
            conn.close()
        return times

    sent: dict[str, float] = {}
    with ThreadPoolExecutor(PUBLISHERS) as pool:
        for times in pool.map(publish, [records[n::PUBLISHERS] for n in range(PUBLISHERS)]):
            sent.update(times)
    return sent


def inbox_ready(amqp: AmqpSettings) -> str:
    """How many messages wait in the inbox queue, not yet delivered (a stall's account:
    in the broker, or taken by the daemon)."""
    try:
        conn = pika.BlockingConnection(connection_parameters(amqp))
    except pika.exceptions.AMQPError as exc:
        return f"unknown ({type(exc).__name__})"
    try:
        ok = conn.channel().queue_declare(amqp.inbox_queue, passive=True)
        return str(ok.method.message_count)
    except pika.exceptions.AMQPError as exc:
        return f"unknown ({type(exc).__name__})"
    finally:
        if conn.is_open:
            conn.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60
               ) -> float:
    """Seconds from now until ``/readyz`` answers 200."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited with {proc.returncode}:\n" + log.read_text()[-3000:])
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return time.monotonic() - t0
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise SystemExit(f"daemon not ready within {timeout:.0f} s")


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--records", type=int, default=1000)
    args.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                      help="DUO calls in flight (daemon: duo.max_concurrency; baseline: "
                           "workers); default the daemon's default")
    args.add_argument("--duo-latency-ms", type=float, default=0.0,
                      help="the simulator holds each answer this long")
    args.add_argument("--backlog", action="store_true",
                      help="publish every record before the daemon starts")
    args.add_argument("--store", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args.add_argument("--baseline-records", type=int, default=None,
                      help="records in the baseline run (default: --records)")
    args.add_argument("--duo-worker", action="store_true",
                      help="the daemon makes its DUO calls in a process of its own "
                           "(duo.worker_process = true; default: the daemon's default)")
    args.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    args.add_argument("--progress", type=float, default=EVERY, metavar="SECONDS",
                      help="a line on stderr this often in the long steps (the baseline's "
                           "calls, the publishing, the adapter's run), saying how far they "
                           "are; 0: none "
                           f"(default {EVERY:.0f})")
    args.add_argument("--stall", type=float, default=120.0,
                      help="give up when no registered event came for this many seconds, "
                           "with an account of the daemon's threads, warnings and store "
                           "(the work directory is then kept)")
    args.add_argument("--keep", action="store_true", help="keep the work directory")
    args.add_argument("--phases", action="store_true",
                      help="also time each step of the DUO calls (build, sign, post, "
                           "interpret), in the baseline and in the daemon, and count the "
                           "submitter's slot runs (bench/phases.py); the probe costs a "
                           "little, so such a run is not one for the targets")
    opts = args.parse_args()
    if min(opts.records, opts.baseline_records or opts.records) <= opts.concurrency:
        args.error("--records (and --baseline-records) must exceed --concurrency: "
                   "the baseline's first --concurrency calls only warm up")
    project.use_broker(opts.amqp)
    configure_logging("warning", "console", stream=sys.stderr)

    tag = uuid.uuid4().hex[:10]
    work = Path(tempfile.mkdtemp(prefix="verzuim-bench-e2e-"))
    records = make_records(opts.records)
    n_base = min(opts.baseline_records or opts.records, opts.records)

    def baseline_progress() -> Progress:
        return Progress("baseline", n_base, "calls", every=opts.progress)

    def publish_progress() -> Progress:
        return Progress("publishing", opts.records, "messages", every=opts.progress)

    amqp = amqp_settings(opts.amqp, tag, 1024 * 1024)
    admin: sa.Engine | None = None
    if opts.store == "sqlite":
        store = f"sqlite:///{work / 'store.db'}"
    else:
        store, admin = fresh_pg_database(opts.store, tag)
    init_test_pki(work / "pki", school_oin=SCHOOL_OIN)
    sim = Simulator(work / "pki", work, opts.duo_latency_ms)
    config, log = work / "bench.toml", work / "daemon.log"
    health_port = free_port()
    write_config(config, work / "pki", sim.soap_url, amqp, store, opts.concurrency, health_port,
                 worker=opts.duo_worker)
    print(f"bench: {opts.records} reports, concurrency {opts.concurrency}, DUO latency "
          f"{opts.duo_latency_ms:.0f} ms, store {opts.store}"
          + (", backlog" if opts.backlog else "")
          + (", the DUO calls in a worker process" if opts.duo_worker else ""), flush=True)
    proc: subprocess.Popen[bytes] | None = None
    tap: EventTap | None = None
    phases_dir = work / "phases" if opts.phases else None
    probe = phases.install("baseline", phases_dir) if phases_dir is not None else None
    phase_lines: list[str] = []
    try:
        named = {os.getpid(): "bench", sim.proc.pid: "simulator"}
        base_windows = [budget.CpuWindow(named)]
        base_rps, base_cpu = run_baseline(config, records[:n_base], opts.concurrency,
                                          base_windows[0], baseline_progress())
        print(f"baseline: DuoClient alone, {n_base} calls: {base_rps:.1f} calls/s, "
              f"{base_cpu * 1000:.2f} ms CPU per call", flush=True)
        sim.reset()

        tap = EventTap(amqp, f"bench.{tag}.tap", opts.records)
        tap.start()
        daemon_cmd = [sys.executable, "-m", "adapter", "--config", str(config), "run"]
        if opts.backlog:
            sent = publish_all(amqp, records, publish_progress())
            print(f"backlog: {opts.records} messages published", flush=True)
        compile_checkout()
        t_start = time.monotonic()
        proc = subprocess.Popen(daemon_cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                cwd=work, env=child_env(phases_dir))
        ready = wait_ready(health_port, proc, log)
        adapter_window = budget.CpuWindow({**named, proc.pid: "daemon"}).start()
        cpu0, threads0 = cpu_seconds(proc.pid), thread_cpu(proc.pid)
        print(f"daemon ready (/readyz 200) {ready:.2f} s after start", flush=True)
        if opts.backlog:
            t0 = t_start
        else:
            sent = publish_all(amqp, records, publish_progress())
            t0 = min(sent.values())
            print(f"published {opts.records} messages in {time.monotonic() - t0:.1f} s",
                  flush=True)
        last_count, last_change = 0, time.monotonic()
        progress = Progress("adapter", opts.records, "registered", every=opts.progress)
        while not tap.done.wait(0.2):
            progress.show(len(tap.arrivals))
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited with {proc.returncode}:\n"
                                 + log.read_text()[-3000:])
            if len(tap.arrivals) != last_count:
                last_count, last_change = len(tap.arrivals), time.monotonic()
            elif time.monotonic() - last_change > opts.stall:
                proc.send_signal(signal.SIGUSR1)   # the daemon's threads, in its log
                time.sleep(1.0)
                opts.keep = True                    # the log and the store, to look at
                # the account first, its one-line summary last: what a test shows
                raise SystemExit(diagnose(log, store) + "\n"
                                 f"no registered event for {opts.stall:.0f} s "
                                 f"({last_count} of {opts.records}; other events {tap.others}; "
                                 f"registered at DUO {sim.registered_if_known()}; "
                                 f"{inbox_ready(amqp)} ready in the inbox queue)")
        cpu = cpu_seconds(proc.pid) - cpu0
        adapter_window.stop()
        threads = {role: seconds - threads0.get(role, 0.0)
                   for role, seconds in thread_cpu(proc.pid).items()}
        rss = peak_rss_mb(proc.pid)
        arrivals = dict(tap.arrivals)
        at_duo = sim.registered()
        stop_daemon(proc)
        proc = None
        # The baseline once more, after the adapter: the machine's speed drifts (it is
        # shared), and the mean of a run before and one after is its speed during.
        sim.reset()
        base_windows.append(budget.CpuWindow(named))
        after_rps, after_cpu = run_baseline(config, records[:n_base], opts.concurrency,
                                            base_windows[1], baseline_progress())
        print(f"baseline again: {n_base} calls: {after_rps:.1f} calls/s, "
              f"{after_cpu * 1000:.2f} ms CPU per call", flush=True)
        base_rps = 2 / (1 / base_rps + 1 / after_rps)     # all calls over all their time
        base_cpu = (base_cpu + after_cpu) / 2
        if probe is not None:
            probe.dump()                    # the daemon wrote its totals as it stopped
            phase_lines = phases.report(probe.directory, opts.concurrency)
    finally:
        if proc is not None:
            stop_daemon(proc)
        if tap is not None:
            tap.stop()
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

    n = opts.records
    times = sorted(arrivals.values())
    seconds = times[-1] - t0
    rps = n / seconds
    lat = [(arrivals[sid] - sent[sid]) * 1000 for sid in arrivals]
    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    cpu_per = cpu / n
    tenth = max(1, n // 10)
    first = tenth / max(times[tenth - 1] - times[0], 1e-9)
    last = tenth / max(times[-1] - times[n - tenth], 1e-9)
    print(f"adapter: {n} registered (DUO's ledger: {at_duo}) in {seconds:.1f} s: "
          f"{rps:.1f} reports/s, {cpu_per * 1000:.2f} ms daemon CPU per report, "
          f"latency p50 {p50:.0f} ms p99 {p99:.0f} ms, peak RSS {rss:.0f} MB")
    print("adapter: CPU ms per report by thread: " + ", ".join(
        f"{role} {seconds / n * 1000:.2f}" for role, seconds
        in sorted(threads.items(), key=lambda item: -item[1]) if seconds / n >= 0.000005))
    print(f"adapter: first tenth {first:.1f}/s, last tenth {last:.1f}/s "
          f"(last/first {last / first:.2f})")
    print(f"baseline: both runs: {base_rps:.1f} calls/s, {base_cpu * 1000:.2f} ms CPU per call")
    base_calls = 2 * (n_base - opts.concurrency)      # timed calls of both baseline runs
    base_line, base_all = budget.report("baseline (both runs)", "call", base_windows,
                                        base_calls)
    adapter_line, adapter_all = budget.report("adapter", "report", [adapter_window], n)
    print(base_line)
    print(adapter_line)
    print(f"budget: CPU per call / CPU per report, all processes: {base_all / adapter_all:.2f} "
          "(the ratio the processors allow when both runs keep them equally busy)")
    simulated = adapter_window.seconds["simulator"]
    if simulated > 0:
        # The simulator does the same work in every run: set against it, the daemon's CPU
        # moves less with the machine's speed than against a baseline run before or after.
        print(f"budget: the daemon's CPU / the simulator's in the same run: "
              f"{adapter_window.seconds['daemon'] / simulated:.3f}")
        # The same calls on both sides, in two windows of time: how much dearer the same
        # work was during the adapter's run. A run's ratio moves with these more than with
        # the daemon's own work (docs/performance.md, round 20).
        sim_call = sum(w.seconds["simulator"] for w in base_windows) / base_calls
        # The DUO calls are made in the daemon's duo threads, or (duo.worker_process)
        # in its worker's, with the duo threads waiting for them.
        calls = threads.get("duo", 0.0) + threads.get("duo-worker", 0.0)
        if sim_call > 0 and calls > 0:
            print(f"budget: the same work in the adapter's run / in the baseline's: the "
                  f"simulator {simulated / n / sim_call:.2f}, the DUO calls (the daemon's "
                  f"duo and duo-worker threads / the client alone) {calls / n / base_cpu:.2f}")
    for line in phase_lines:
        print(line)
    ratio, cpu_ratio = rps / base_rps, cpu_per / base_cpu
    target_run = "" if opts.backlog else " (the target is for --backlog --records 100000)"
    print("targets (issue 11):")
    print(f"  ratio >= 0.8: {ratio:.2f} {'met' if ratio >= 0.8 else 'NOT met'}"
          + ("" if opts.duo_latency_ms == 0 else
             f" (under {opts.duo_latency_ms:.0f} ms DUO latency, the baseline's too)"))
    print(f"  cpu_ratio <= 1.5: {cpu_ratio:.2f} {'met' if cpu_ratio <= 1.5 else 'NOT met'}")
    print(f"  peak RSS <= 200 MB: {rss:.0f} MB {'met' if rss <= 200 else 'NOT met'}"
          + ("" if opts.backlog else " (the target is for --backlog --records 100000)"))
    steady = last / first >= 0.8
    print(f"  last 10% as fast as the first 10% (within 20%): {last / first:.2f} "
          f"{'met' if steady else 'NOT met'}{target_run}")
    print(f"  ready <= 2 s after start: {ready:.2f} s {'met' if ready <= 2 else 'NOT met'}")
    if at_duo != n or len(arrivals) != n:
        raise SystemExit(f"{len(arrivals)} registered events, {at_duo} at DUO, {n} expected")
    print(f"ratio={ratio:.2f} adapter_rps={rps:.1f} baseline_rps={base_rps:.1f} "
          f"cpu_ratio={cpu_ratio:.2f} p50_ms={p50:.0f} p99_ms={p99:.0f} rss_mb={rss:.0f}")


if __name__ == "__main__":
    main()
