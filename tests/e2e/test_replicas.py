"""Three replicas on one PostgreSQL store share the work (issue 12, item 3).

1,000 reports of 50 students go through three daemon processes on one store; one
is SIGKILLed and another stopped (SIGTERM) mid-run. Afterwards: every report is
registered at DUO exactly once (the simulator's ledger), each student's reports
were registered in the order the store queued them (DUO's meldingsnummers rise
with our submission ids), and at any moment at most one replica held the feedback
poller's lease, and only the holder polled DUO.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pytest
import sqlalchemy as sa

from adapter.config import Settings
from adapter.simulator.server import SimulatorServer
from adapter.sis import connection_parameters, declare_topology

from support import fresh_pg_database, pg_url, store_secrets

from .conftest import Tap, control, wait_for
from .records import make_bsn, record
from .test_process import start_daemon, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(420)]

STUDENTS, PER_STUDENT = 50, 20
LEASE_SECONDS = 3
# DUO holds each registration this long, so a replica always has calls in flight
# (claims) while work is left, however fast the daemon gets: the kill finds some.
DUO_SECONDS_PER_CALL = 0.2


@pytest.fixture()
def pg_store_url() -> Iterator[str]:
    with fresh_pg_database("verzuim_r") as name:
        yield pg_url(name)


def _config(settings: Settings, tmp_path: Path, url: str) -> Path:
    path = write_config(tmp_path / "replica.toml", settings)
    text = path.read_text().replace(
        f'[store]\nurl = "{settings.store.url}"',
        "\n".join([
            "[store]", f'url = "{url}"', *store_secrets(tmp_path, url),
            f"claim_lease_seconds = {LEASE_SECONDS}", f"leader_lease_seconds = {LEASE_SECONDS}",
        ]))
    text = text.replace("[duo]\n", "[duo]\nmax_concurrency = 4\n")
    path.write_text(text)
    return path


def _records() -> list[dict[str, Any]]:
    """Each student's reports in the order the SIS sends them: periods that never
    overlap, one every ten days, all in the past."""
    rng = random.Random(1205)
    bsns = []
    while len(bsns) < STUDENTS:
        bsn = make_bsn(rng)
        if bsn not in bsns:
            bsns.append(bsn)
    out = []
    for i in range(PER_STUDENT):
        begin = date(2026, 1, 5) + timedelta(days=10 * i)
        for s, bsn in enumerate(bsns):
            out.append(record(rng, soort="V3", bsn=bsn, source_id=f"rep-{s:02d}-{i:02d}",
                              begindatum=begin.isoformat(),
                              einddatum=(begin + timedelta(days=7)).isoformat(),
                              verzuimdagen=[{"datum": begin.isoformat(), "hele_dag": True}]))
    return out


def _publish(settings: Settings, records: list[dict[str, Any]]) -> None:
    conn = pika.BlockingConnection(connection_parameters(settings.amqp))
    try:
        channel = conn.channel()
        declare_topology(channel, settings.amqp)
        channel.confirm_delivery()
        for rec in records:
            channel.basic_publish(
                settings.amqp.sis_exchange, "canonical.export", json.dumps(rec).encode(),
                pika.BasicProperties(delivery_mode=2, message_id=rec["source_id"],
                                     content_type="application/json"), mandatory=True)
    finally:
        conn.close()


def _events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and "event" in item:
            out.append(item)
    return out


def _at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


def _holder(url: str) -> tuple[int, int]:
    """The process holding the poller's lease now (replica names carry their pid), and
    how many submissions it has in flight (claimed, ``submitting``)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            holder = conn.execute(sa.text(
                "SELECT holder FROM leases WHERE name = 'feedback_poller'")).scalar_one()
            in_flight = conn.execute(sa.text(
                "SELECT count(*) FROM submissions WHERE claimed_by = :holder "
                "AND state = 'submitting'"), {"holder": holder}).scalar_one()
    finally:
        engine.dispose()
    return int(str(holder).split(":")[-2]), int(in_flight)


def _holder_pid(url: str) -> int:
    return _holder(url)[0]


def test_three_replicas_share_the_work_exactly_once_in_each_students_order(
        settings: Settings, simulator: SimulatorServer, tap: Tap, tmp_path: Path,
        pg_store_url: str) -> None:
    config = _config(settings, tmp_path, pg_store_url)
    pg = pg_store_url
    logs = [tmp_path / f"replica-{n}.log" for n in range(3)]
    procs = [start_daemon(config, log) for log in logs]
    control(simulator, "faults", {"mode": "delay", "count": 10**6, "seconds": DUO_SECONDS_PER_CALL,
                                  "operation": "aanleverenVerzuimmelding"})
    records = _records()
    _publish(settings, records)

    def registered() -> set[str]:
        return {e["source_id"] for e in tap.of("registered")}

    by_pid = {proc.pid: proc for proc in procs}
    wait_for(lambda: len(registered()) >= 200, what="200 registered", timeout=180)
    # the poller dies, holding claims too
    wait_for(lambda: _holder(pg)[1] > 0, what="the poller holding claims", timeout=60)
    killed = by_pid.pop(_holder_pid(pg))
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=30) == -signal.SIGKILL
    wait_for(lambda: len(registered()) >= 500, what="500 registered", timeout=180)
    # a clean stop of the poller then (by now another replica took its lease over)
    wait_for(lambda: _holder_pid(pg) in by_pid, what="the poller taken over", timeout=60)
    stopped = by_pid.pop(_holder_pid(pg))
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=60) == 0
    wanted = {r["source_id"] for r in records}
    wait_for(lambda: registered() >= wanted, what="all 1,000 registered", timeout=240)
    wait_for(lambda: _holder_pid(pg) in by_pid, what="the last poller", timeout=60)
    time.sleep(2 * LEASE_SECONDS)                   # the poller goes on; nothing more is sent
    [last] = by_pid.values()
    last.send_signal(signal.SIGTERM)
    assert last.wait(timeout=60) == 0

    # exactly once at DUO
    ledger = control(simulator, "ledger")
    assert len(ledger) == len(records)
    assert sorted(set(ledger.values())) == [1]
    assert len(control(simulator, "meldingen")) == len(records)

    # each student's reports registered in the order the store queued them
    engine = sa.create_engine(pg)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT s.student_key, s.id, r.meldingsnummer FROM submissions s "
                "JOIN reports r ON r.id = s.report_id WHERE s.operation = 'aanleveren' "
                "ORDER BY s.student_key, s.id")).all()
    finally:
        engine.dispose()
    by_student: dict[str, list[int]] = {}
    for skey, _, nummer in rows:
        by_student.setdefault(skey, []).append(int(nummer))
    assert len(by_student) == STUDENTS
    assert all(nummers == sorted(nummers) for nummers in by_student.values())

    # the killed replica's claims were recovered by a live one, not by a restart
    killed_log = logs[procs.index(killed)]
    assert any(e["event"] == "claims_recovered"
               for log in logs if log != killed_log for e in _events(log))

    # one poller at a time: every epoch of the lease had one holder, and the pages
    # committed, in time order, never go back to an earlier epoch
    acquired: dict[int, set[int]] = {}
    commits: list[tuple[float, int, int]] = []
    for n, log in enumerate(logs):
        for event in _events(log):
            if event["event"] == "poller_lease_acquired":
                acquired.setdefault(int(event["epoch"]), set()).add(n)
            elif event["event"] == "feedback_received":
                commits.append((_at(event), int(event["epoch"]), n))
    assert len(acquired) >= 3, acquired                 # taken over after the kill and the stop
    assert all(len(holders) == 1 for holders in acquired.values()), acquired
    commits.sort()
    assert len({n for _, _, n in commits}) >= 2, "feedback was applied by one replica only"
    for (_, epoch_a, _), (_, epoch_b, _) in zip(commits, commits[1:]):
        assert epoch_b >= epoch_a, f"a page of an old lease committed late: {commits}"
    for _, epoch, n in commits:
        assert acquired[epoch] == {n}, f"replica {n} applied feedback without the lease"
