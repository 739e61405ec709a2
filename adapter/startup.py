"""The program's entry point, and the stop signals that arrive before the daemon
can handle them.

Importing the command line and the daemon's libraries takes most of a second.
Without a handler, a SIGTERM in that time ends the process at once (exit -15),
which an orchestrator that stops a container just after starting it reads as a
crash. :func:`main` therefore holds SIGTERM and SIGINT *first*, with nothing but
the standard library imported: a signal that arrives is remembered, not acted on.

- ``run`` (:meth:`adapter.pipeline.daemon.Daemon.run_forever`) installs its own
  handlers and then :func:`take` s what was held: it stops cleanly, exit 0.
- Every other command :func:`release` s them: the default handling comes back,
  and a signal held meanwhile is raised again, so it acts as it would have.

Only the program holds signals; importing :mod:`adapter` (tests, library use)
changes no handler.

The cyclic garbage collector is off while the program starts (:func:`quiet_start`).
Start-up builds objects that live as long as the process (modules, classes, schemas,
plugins, the daemon's set-up) and next to no cyclic garbage: about 1,400 objects
among 190,000. The collector's passes over them found nothing and cost about a fifth
of the daemon's start (docs/performance.md, round 22). When the start is over, what
it built is frozen out of the collector's sight (``gc.freeze``): a later full
collection scans only what came after. Then the collector runs as usual.
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals held until the command knows what to do with them.
HELD = (signal.SIGTERM, signal.SIGINT)

_pending: list[int] = []
_previous: dict[int, object] = {}


def _remember(signum: int, _frame: FrameType | None) -> None:
    _pending.append(signum)


def hold() -> None:
    """Remember :data:`HELD` signals instead of acting on them (main thread only)."""
    for signum in HELD:
        _previous.setdefault(signum, signal.signal(signum, _remember))


def take() -> list[int]:
    """The signals held so far, in order, forgotten here; holding ends (the caller has
    installed its own handlers, which this leaves in place)."""
    taken = list(_pending)
    _pending.clear()
    _previous.clear()
    return taken


def release() -> None:
    """End holding: the handlers from before :func:`hold` come back and each held
    signal is raised again. Nothing happens when nothing is held."""
    if not _previous:
        return
    for signum, handler in _previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]
    _previous.clear()
    pending = list(_pending)
    _pending.clear()
    for signum in pending:
        signal.raise_signal(signum)


@contextmanager
def quiet_start() -> Iterator[None]:
    """The collector off for the block; afterwards what exists is frozen out of its
    sight and it is on again, also when the block raises. For the program's own start
    (:func:`main`, the ``run`` command), never for a library's caller: it leaves every
    object that exists at its end uncollected for the rest of the process."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def main() -> None:
    """Console-script entry point (``verzuim-adapter``, ``python -m adapter``)."""
    hold()
    with quiet_start():
        from adapter.cli import main as cli_main
    cli_main()
