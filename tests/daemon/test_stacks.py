"""SIGUSR1's stack dump: every thread, files, lines and function names, no values; the
process runs on. (The dump used to come from faulthandler, which reads the other
threads' frames while they run, and crashed a busy daemon.)"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from adapter.pipeline import stacks

SECRET = "123456782"   # a BSN: held in a local variable of a busy thread


def _busy(stop: threading.Event, bsn: str) -> None:
    while not stop.is_set():
        total = sum(int(c) for c in bsn)   # keeps changing its frames
        assert total > 0


@pytest.fixture()
def busy_threads() -> Iterator[list[threading.Thread]]:
    stop = threading.Event()
    threads = [threading.Thread(target=_busy, args=(stop, SECRET), name=f"busy-{i}")
               for i in range(4)]
    for thread in threads:
        thread.start()
    yield threads
    stop.set()
    for thread in threads:
        thread.join()


def test_sigusr1_writes_every_threads_stack_and_the_process_runs_on(
        busy_threads: list[threading.Thread]) -> None:
    out = io.StringIO()
    previous = signal.getsignal(signal.SIGUSR1)
    stacks.install(signal.SIGUSR1, stream=out)
    try:
        for _ in range(20):          # many dumps while four threads change their frames
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    dump = out.getvalue()
    assert dump.count('"MainThread" (most recent call first):') == 20
    for thread in busy_threads:
        assert f'"{thread.name}"' in dump
    assert " in _busy" in dump
    assert "test_stacks.py" in dump and "line " in dump
    assert SECRET not in dump                          # names and lines, never values
    assert all(t.is_alive() for t in busy_threads)
