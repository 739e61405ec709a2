"""Run a command with the wall clock moved to another instant (the tests' clock).

Usage: ``python scripts/testclock.py [--at WHEN] -- COMMAND [ARG ...]``

``WHEN`` is an ISO 8601 instant (``2026-10-20T23:30:00Z``; without a zone it is UTC).
Without ``--at`` the environment variable ``VERZUIM_TEST_NOW`` is used; when neither
is set the command runs unchanged. The clock starts at ``WHEN`` and ticks on, for
the command and every process it starts (the daemon and simulator the tests spawn),
all with the same offset from the real clock. Monotonic clocks are left alone, so
timeouts and sleeps behave. RabbitMQ and PostgreSQL keep the real clock: the
adapter takes every timestamp it stores from its own process.

It uses the libfaketime build that the PyPI package ``libfaketime`` carries (a test
extra): Debian's libfaketime 0.9.10 breaks Python 3.11's sleeps and lock timeouts
(``time.sleep`` fails with EINVAL, ``Event.wait`` hangs). A command already started
under Debian's ``faketime`` is moved onto the same instant with this build.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime


def parse_instant(text: str) -> datetime:
    """``text`` as an aware datetime (naive means UTC); SystemExit with one line if bad."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"testclock: not an ISO 8601 instant: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _without_faketime() -> dict[str, str]:
    """This environment minus every trace of a libfaketime (preload, offsets, shared state)."""
    return {k: v for k, v in os.environ.items()
            if k != "LD_PRELOAD" and k != "VERZUIM_TEST_NOW"
            and not k.startswith(("FAKETIME", "DONT_FAKE"))}


def real_time() -> float:
    """The machine's real clock, read by a child without any faked-time preload."""
    out = subprocess.run([sys.executable, "-S", "-c", "import time; print(time.time())"],
                         env=_without_faketime(), capture_output=True, text=True, check=True,
                         timeout=30)
    return float(out.stdout)


def target_offset(at: str | None) -> int | None:
    """Seconds to add to the real clock, or None when the clock stays as it is."""
    when = at or os.environ.get("VERZUIM_TEST_NOW")
    if when:
        return round(parse_instant(when).timestamp() - real_time())
    if "faketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get("FAKETIME"):
        # Started under another libfaketime: this process sees its faked clock.
        return round(time.time() - real_time())
    return None


def faked_env(offset: int) -> dict[str, str]:
    """The environment that runs a process ``offset`` seconds from the real clock."""
    try:
        import libfaketime
    except ImportError:
        raise SystemExit("testclock: the 'libfaketime' package is missing "
                         "(pip install -e '.[test]')") from None
    _, preload = libfaketime.get_reload_information()
    env = _without_faketime()
    env.update(preload)
    # The package appends any LD_PRELOAD already set: keep only its own build.
    env["LD_PRELOAD"] = preload["LD_PRELOAD"].split(":")[0]
    env["FAKETIME"] = f"{offset:+d}"
    env["DONT_FAKE_MONOTONIC"] = "1"
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    env.pop("FAKETIME_NO_CACHE", None)   # a constant offset: libfaketime may cache it
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="testclock", description="Run COMMAND with the wall clock at WHEN (ticking).")
    parser.add_argument("--at", metavar="WHEN",
                        help="ISO 8601 instant; default: $VERZUIM_TEST_NOW")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    offset = target_offset(args.at)
    if offset is None:
        os.execvp(command[0], command)
    env = faked_env(offset)
    shown = datetime.fromtimestamp(real_time() + offset, UTC).isoformat(timespec="seconds")
    print(f"testclock: wall clock at {shown} (offset {offset:+d} s) for: {' '.join(command)}",
          file=sys.stderr, flush=True)
    os.execvpe(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
