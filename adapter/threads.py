"""Native thread names: each thread of the daemon shows its role to the system.

Python names its threads (``submitter``, ``duo_0``) for itself only; the system
sees every one as ``python``. :func:`name_native` gives the calling OS thread the
Python thread's name, so ``top -H -p <pid>``, ``ps -L -p <pid>`` and
``/proc/<pid>/task/<tid>/comm`` say which part of the daemon uses the CPU
(``bench/e2e.py`` reads them there for its CPU per thread). Linux only
(``prctl(PR_SET_NAME)``, at most 15 bytes); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["name_native", "named"]

_PR_SET_NAME = 15      # <linux/prctl.h>
_NAME_BYTES = 15       # the kernel keeps 16, the last a NUL


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The running program's own symbols: libc is among them, without a search.
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _prctl()


def name_native(name: str | None = None) -> None:
    """Give the calling OS thread ``name`` (default: its Python thread's name), cut to
    15 bytes; a name the system refuses is left as it was (a name is only a label)."""
    if _PRCTL is None:
        return
    text = (name or threading.current_thread().name).encode("ascii", "replace")[:_NAME_BYTES]
    _PRCTL(_PR_SET_NAME, ctypes.c_char_p(text), 0, 0, 0)


def named(target: Callable[..., Any]) -> Callable[..., Any]:
    """``target``, run under its thread's native name (for ``threading.Thread``)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        name_native()
        return target(*args, **kwargs)

    return run
