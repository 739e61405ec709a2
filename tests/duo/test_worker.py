"""The DUO calls in a child process (adapter.duo.worker), against the real simulator."""

from __future__ import annotations

import functools
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapter import errors
from adapter.domain.model import Student
from adapter.duo.port import ExchangeRecord, for_submission
from adapter.duo import worker
from adapter.duo.worker import WorkerClient
from adapter.errors import DuoRejected, OutcomeUnknown, TransientError
from adapter.simulator.server import SimulatorServer
from adapter.testing.kit import capture_log_lines

from .conftest import BRIN, OLD_BSN, control, melding, valid_bsn


@pytest.fixture()
def make_worker(make_client: Callable[..., Any]) -> Callable[..., WorkerClient]:
    return functools.partial(make_client, worker=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_call_in_the_child_comes_back_with_its_exchange_and_its_event(
        make_worker: Callable[..., WorkerClient], exchanges: list[ExchangeRecord]) -> None:
    client = make_worker()
    with capture_log_lines("info") as lines, for_submission(41):
        result = client.aanleveren(melding(), document_id="4b0c2bd8-9c11-4f43-9d5f-0a4b4c7e0001")
    assert result.meldingsnummer
    assert client.pid is not None and client.pid != os.getpid()
    assert [(e.operation, e.submission_id, e.outcome) for e in exchanges] == [
        ("aanleverenVerzuimmelding", 41, "ok")]
    assert b"identificatiecodeBedrijfsdocument" in exchanges[0].request_xml
    # The child's event is emitted here: through this process's redaction and renderer.
    events = [json.loads(line) for line in lines]
    exchange = [e for e in events if e["event"] == "duo_exchange"]
    assert exchange and exchange[0]["outcome"] == "ok"
    assert exchange[0]["document_id"] == "4b0c2bd8-9c11-4f43-9d5f-0a4b4c7e0001"
    assert any(e["event"] == "duo_worker_started" for e in events)


def test_duo_s_refusal_is_raised_here_as_the_child_raised_it(
        make_worker: Callable[..., WorkerClient], simulator: SimulatorServer) -> None:
    client = make_worker()
    control(simulator, "rod", {"students": [{"bsn": OLD_BSN, "geboortedatum": "1990-01-01"}]})
    with pytest.raises(DuoRejected) as caught:
        client.aanleveren(melding(bsn=OLD_BSN),
                          document_id="4b0c2bd8-9c11-4f43-9d5f-0a4b4c7e0002")
    assert "VZ007" in [code for code, _ in caught.value.errors]
    assert client.opvragen(brin=BRIN, document_id="4b0c2bd8-9c11-4f43-9d5f-0a4b4c7e0002") is None


def test_calls_share_the_child_in_parallel(make_worker: Callable[..., WorkerClient],
                                           exchanges: list[ExchangeRecord]) -> None:
    client = make_worker(max_concurrency=3)
    found: list[str] = []

    def send(i: int) -> None:
        found.append(client.aanleveren(
            melding(source_id=f"sis-{i}", student=Student(bsn=valid_bsn(i))),
            document_id=f"4b0c2bd8-9c11-4f43-9d5f-0a4b4c7e01{i:02d}").meldingsnummer)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 8 and len(exchanges) == 8


def test_a_child_that_ends_mid_call_is_an_unknown_outcome_and_is_replaced(
        make_worker: Callable[..., WorkerClient], simulator: SimulatorServer) -> None:
    client = make_worker()
    assert client.opvragen(brin=BRIN, meldingsnummer="1") is None     # the child is up
    first = client.pid
    assert first is not None
    control(simulator, "faults", {"mode": "delay", "count": 1, "seconds": 3})
    killer = threading.Timer(0.5, os.kill, (first, signal.SIGKILL))
    killer.start()
    with capture_log_lines("info") as lines:
        with pytest.raises(OutcomeUnknown, match="duo_worker_ended"):
            client.aanleveren(melding(), document_id="4b0c2bd8-9c11-4f43-9d5f-0a4b4c7e0003")
        killer.join()
        # The next call starts another child (what became of the first is for the
        # submitter's reconciliation: tests/faults, row 23).
        assert client.aanleveren(melding(student=Student(bsn=valid_bsn(50))),
                                 document_id="4b0c2bd8-9c11-4f43-9d5f-0a4b4c7e0004")
    assert client.pid not in (None, first)
    events = [json.loads(line)["event"] for line in lines]
    assert events.count("duo_worker_ended") == 1 and events.count("duo_worker_started") == 1


def test_calls_waiting_for_a_connection_move_on_when_the_child_ends(
        make_worker: Callable[..., WorkerClient], simulator: SimulatorServer) -> None:
    client = make_worker(max_concurrency=1)                    # three connections
    assert client.opvragen(brin=BRIN, meldingsnummer="1") is None
    first = client.pid
    assert first is not None
    control(simulator, "faults", {"mode": "delay", "count": 3, "seconds": 3})
    outcomes: dict[int, str] = {}

    def send(i: int) -> None:
        try:
            client.aanleveren(melding(source_id=f"sis-{i}", student=Student(bsn=valid_bsn(i))),
                              document_id=f"4b0c2bd8-9c11-4f43-9d5f-0a4b4c7e02{i:02d}")
            outcomes[i] = "registered"
        except OutcomeUnknown:
            outcomes[i] = "unknown"

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    os.kill(first, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    # the three in flight at the child's end: unknown; the three waiting: sent by the next
    assert sorted(outcomes.values()) == ["registered"] * 3 + ["unknown"] * 3, outcomes


def test_a_look_up_the_child_does_not_answer_in_time_is_transient(
        make_worker: Callable[..., WorkerClient], simulator: SimulatorServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_worker(connect_timeout=2.0, read_timeout=5.0)
    assert client.opvragen(brin=BRIN, meldingsnummer="1") is None
    first = client.pid
    assert first is not None
    monkeypatch.setattr("adapter.duo.worker.WAIT_MARGIN", -6.5)   # waits 0.5 s in all
    control(simulator, "faults", {"mode": "delay", "count": 1, "seconds": 3})
    with pytest.raises(TransientError, match="duo_worker_timeout"):
        client.opvragen(brin=BRIN, meldingsnummer="1")
    assert client.pid is None and not _alive(first)     # stopped: its answer is not awaited


def test_close_ends_the_child(make_worker: Callable[..., WorkerClient]) -> None:
    client = make_worker()
    assert client.opvragen(brin=BRIN, meldingsnummer="1") is None
    pid = client.pid
    assert pid is not None and _alive(pid)
    client.close()
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    with pytest.raises(errors.SystemFault):
        client.opvragen(brin=BRIN, meldingsnummer="1")


@pytest.mark.parametrize("error", [
    errors.DuoRejected([("VZ001", "rule")]), errors.StaleStamp([("VZ903", "stamp")]),
    errors.RuleViolation([("student.bsn", "11-proef")], position="row 3"),
    errors.RecordError("bad", position="row 1", field="f", rule="r"),
    errors.DecodeError("bad"), errors.UnknownVendor("none"), errors.TransientError("t"),
    errors.OutcomeUnknown("u"), errors.DuplicateDocument("d"), errors.SystemFault("s"),
    errors.ConfigError("c"), errors.StoreUnavailable("s"),
])
def test_every_error_crosses_the_process_boundary_whole(error: errors.AdapterError) -> None:
    error.duo_fault = "DK0004"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert (str(again), again.__dict__) == (str(error), error.__dict__)


def test_the_child_does_not_see_the_key_s_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERZUIM_TEST_KEY_PASSPHRASE", "not-for-the-child")
    child = worker._Child((), 1, hidden="VERZUIM_TEST_KEY_PASSPHRASE")   # no set-up: ends
    try:
        environ = Path(f"/proc/{child.process.pid}/environ").read_bytes().split(b"\0")
    finally:
        child.stop(5)
    assert not [v for v in environ if v.startswith(b"VERZUIM_TEST_KEY_PASSPHRASE=")]
    assert [v for v in environ if v.startswith(b"PYTHONPATH=")]    # the rest is inherited


def test_the_worker_is_not_a_command_of_its_own() -> None:
    done = subprocess.run([sys.executable, "-m", "adapter.duo.worker_main", "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "started by the daemon (duo.worker_process)" in done.stderr
    assert "Traceback" not in done.stderr
