"""How far a long step of a bench has come, as a line on stderr every so many seconds.

``bench/e2e.py --backlog --records 100000`` runs for most of an hour in steps that print
nothing until they end: the baseline's calls, the publishing of the backlog and the
daemon's work through it. A line every half minute, such as
``e2e.py: adapter: 41200 of 100000 registered, 68.9/s``, shows that it moves and how
fast. The lines go to stderr, so the summary on stdout and its last line stay as they
are. ``bench/intake.py`` uses it too, while the rows of an export are stored.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TextIO

#: Seconds between two lines of one step, unless the script's ``--progress`` says otherwise.
EVERY = 30.0


class Progress:
    """One step's progress: :meth:`add` or :meth:`show` from any thread.

    A line is printed when ``every`` seconds have passed since the last one (or since
    the step started), never more often; ``every`` of 0 or less prints none. The rate
    is the step's average so far. The check is a clock reading and a lock: cheap
    enough for every DUO call of a baseline.
    """

    def __init__(self, what: str, total: int, unit: str, *, every: float = EVERY,
                 stream: TextIO | None = None, script: str | None = None) -> None:
        """``script``: how the lines name the script (default: its file's name, as
        ``bench/project.py`` names it in its messages)."""
        self._head = f"{script or Path(sys.argv[0]).name}: {what}: "
        self._tail = f" of {total} {unit}"
        self._every = every
        self._stream = stream
        self._lock = threading.Lock()
        self._done = 0
        self._started = self._last = time.monotonic()

    def add(self, n: int = 1) -> None:
        """``n`` more are done."""
        with self._lock:
            self._done += n
            done = self._done
        self.show(done)

    def show(self, done: int) -> None:
        """``done`` are done so far; prints the line when it is due."""
        if self._every <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._every:
                return
            self._last = now
        rate = done / (now - self._started)
        print(f"{self._head}{done}{self._tail}, {rate:.1f}/s",
              file=self._stream or sys.stderr, flush=True)
