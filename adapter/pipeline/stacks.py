"""Every thread's stack on stderr, on a signal (SIGUSR1), for a daemon that seems stuck.

Written by a Python signal handler, so it runs in the main thread, holding the GIL,
between two bytecodes: the other threads are stopped at a safe point and their frames
are read consistently. ``faulthandler.register(all_threads=True)``, used before, dumps
from inside the C signal handler while the other threads run on; reading a frame that
another thread is changing crashed a busy daemon (SIGSEGV in the middle of the dump).
The main thread only waits for signals in :meth:`~adapter.pipeline.daemon.Daemon.run_forever`,
so the handler runs at once.

Each frame is its file, line and function name, as faulthandler wrote them; never a
source line or a value.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TextIO


def format_stacks() -> str:
    """Every live thread's stack, most recent call first, without values."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    out: list[str] = []
    for ident, frame in sys._current_frames().items():
        out.append(f'Thread 0x{ident:016x} "{names.get(ident, "?")}" '
                   "(most recent call first):")
        walk: FrameType | None = frame
        while walk is not None:
            code = walk.f_code
            out.append(f'  File "{code.co_filename}", line {walk.f_lineno} in {code.co_name}')
            walk = walk.f_back
        out.append("")
    return "\n".join(out) + "\n"


def install(signum: int = signal.SIGUSR1, stream: TextIO | None = None) -> None:
    """On ``signum``, write :func:`format_stacks` to ``stream`` (default: stderr) and
    carry on. Call from the main thread (Python's rule for signal handlers)."""
    def on_signal(_signum: int, _frame: object) -> None:
        target = stream or sys.stderr
        target.write(format_stacks())
        target.flush()

    signal.signal(signum, on_signal)
