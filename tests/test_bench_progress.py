"""bench/progress.py: a long step's line on stderr, never more often than asked."""

from __future__ import annotations

import importlib.util
import io
import threading
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_progress() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_progress", ROOT / "bench" / "progress.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Clock:
    """Stands in for the module's ``time``: seconds move only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def progress(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Clock]:
    module, clock = load_progress(), Clock()
    monkeypatch.setattr(module, "time", clock)
    return module, clock


def test_a_line_once_the_interval_passed_with_the_count_and_the_rate(
        progress: tuple[ModuleType, Clock]) -> None:
    module, clock = progress
    out = io.StringIO()
    step = module.Progress("adapter", 1000, "registered", every=30, stream=out,
                           script="e2e.py")
    clock.now += 29.9
    step.show(100)
    assert out.getvalue() == ""                      # not yet due
    clock.now += 0.1
    step.show(120)
    assert out.getvalue() == "e2e.py: adapter: 120 of 1000 registered, 4.0/s\n"
    clock.now += 10
    step.show(500)
    assert out.getvalue().count("\n") == 1           # the next is due 30 s after that one
    clock.now += 20
    step.show(800)
    assert out.getvalue().splitlines()[-1] == "e2e.py: adapter: 800 of 1000 registered, 13.3/s"


def test_add_counts_the_calls_of_every_thread(progress: tuple[ModuleType, Clock]) -> None:
    module, clock = progress
    out = io.StringIO()
    step = module.Progress("baseline", 8000, "calls", every=5, stream=out, script="e2e.py")

    def calls() -> None:
        for _ in range(1000):
            step.add()

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert out.getvalue() == ""
    clock.now += 5
    step.add(0)
    assert out.getvalue() == "e2e.py: baseline: 8000 of 8000 calls, 1600.0/s\n"


def test_zero_prints_nothing(progress: tuple[ModuleType, Clock]) -> None:
    module, clock = progress
    out = io.StringIO()
    step = module.Progress("adapter", 10, "registered", every=0, stream=out, script="e2e.py")
    for done in range(10):
        clock.now += 60
        step.show(done)
    assert out.getvalue() == ""
