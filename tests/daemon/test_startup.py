"""Stop signals held while the program starts (adapter.startup)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from adapter import startup



ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_a_held_sigterm_is_remembered_not_acted_on() -> None:
    done = run_python("""
        import os, signal
        from adapter import startup
        startup.hold()
        os.kill(os.getpid(), signal.SIGTERM)
        print("alive", startup.take(), startup.take())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["alive", "[15]", "[]"]


def test_release_raises_the_held_signal_again_with_its_default_handling() -> None:
    done = run_python("""
        import os, signal
        from adapter import startup
        startup.hold()
        os.kill(os.getpid(), signal.SIGTERM)
        print("held", flush=True)
        startup.release()
        print("not reached", flush=True)
    """)
    assert done.returncode == -signal.SIGTERM
    assert done.stdout.split() == ["held"]


def test_release_without_hold_changes_no_handler() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    startup.release()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert startup.take() == []


def test_other_commands_get_the_default_handling_back() -> None:
    done = run_python("""
        import signal, sys
        from adapter import startup
        startup.hold()
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        from adapter.cli import cli
        try:
            cli(["plugins", "--help"], prog_name="verzuim-adapter")
        except SystemExit:
            pass
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_quiet_start_builds_without_the_collector_then_freezes_what_it_built() -> None:
    # In a process of its own: what the block leaves is never collected afterwards.
    done = run_python("""
        import gc
        from adapter import startup
        before = gc.get_freeze_count()
        with startup.quiet_start():
            during = gc.isenabled()
            kept = [[n] for n in range(5000)]
        print(during, gc.isenabled(), gc.get_freeze_count() - before >= 5000)
        try:
            with startup.quiet_start():
                raise KeyError("in the block")
        except KeyError:
            print(gc.isenabled())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True", "True"]


def test_the_program_runs_its_command_with_the_collector_on_and_the_imports_frozen() -> None:
    done = run_python("""
        import gc
        from adapter import startup
        import adapter.cli
        seen = []
        adapter.cli.main = lambda: seen.append((gc.isenabled(), gc.get_freeze_count()))
        startup.main()
        print(seen[0][0], seen[0][1] > 10000)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
