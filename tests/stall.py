"""What a run says when the daemon stops settling records: a short account, not the whole log.

A stalled bench used to end with the last 12,000 characters of the daemon's log, and
a test that shows only the end of the output then showed one thread's stack and
nothing of why. :func:`account` sums up, most telling last: the daemon's threads (the
top of each stack, as :func:`adapter.pipeline.stacks.format_stacks` writes them), its
warnings and errors (event names and error classes: the log holds no personal data),
the count of each event, and the store's rows by state. ``bench/e2e.py`` gives it for
a daemon in its own process (:func:`diagnose`, from its log after SIGUSR1); the fault
rig for the daemon it runs in the test's process.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from invariants import json_log

THREAD = re.compile(r'^Thread 0x[0-9a-f]+ "(?P<name>[^"]*)"')
FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')
#: the fields of a warning worth showing (never a value that could be personal data)
FIELDS = ("role", "error", "count", "code", "reason_code", "after")


def threads(dump: str, frames: int = 4) -> list[str]:
    """One line per thread of the last stack dump in ``dump`` (a log, or
    ``format_stacks()`` itself): its name and its top ``frames`` frames."""
    lines = dump.splitlines()
    starts = [i for i, line in enumerate(lines) if THREAD.match(line)]
    if not starts:
        return ["(no stack dump)"]
    # the last dump: the run of thread headers, with no log line between, ending last
    first = starts[-1]
    for i in reversed(starts[:-1]):
        if any(lines[j].startswith("{") for j in range(i, first)):
            break
        first = i
    out: list[str] = []
    name, top = "", []
    for line in lines[first:]:
        if match := THREAD.match(line):
            if name:
                out.append(f"{name}: {' < '.join(top)}")
            name, top = match["name"], []
        elif (frame := FRAME.match(line)) and len(top) < frames:
            top.append(f"{Path(frame['file']).name}:{frame['line']} {frame['func']}")
        elif line.startswith("{"):
            break
    if name:
        out.append(f"{name}: {' < '.join(top)}")
    return out


def summary(events: Iterable[Mapping[str, Any]], last: int = 10) -> tuple[Counter[str], list[str]]:
    """The count of each event, and the last ``last`` warnings and errors with the
    :data:`FIELDS` they have."""
    counts: Counter[str] = Counter()
    bad: list[str] = []
    for event in events:
        counts[str(event.get("event"))] += 1
        level = event.get("level", event.get("log_level"))
        if level in ("warning", "error", "critical"):
            extra = " ".join(f"{k}={event[k]}" for k in FIELDS if k in event)
            bad.append(f"{level} {event.get('event')} {extra}".rstrip())
    return counts, bad[-last:]


def store_states(url: str) -> str:
    """Rows by state in the store at ``url``: reports, submissions, the outbox."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            reports = dict(conn.exec_driver_sql(
                "SELECT state, count(*) FROM reports GROUP BY state ORDER BY state").all())
            submissions = dict(conn.exec_driver_sql(
                "SELECT state, count(*) FROM submissions GROUP BY state ORDER BY state").all())
            unpublished, total = conn.exec_driver_sql(
                "SELECT sum(CASE WHEN published_at IS NULL THEN 1 ELSE 0 END), count(*) "
                "FROM outbox").one()
            inbox = conn.exec_driver_sql("SELECT count(*) FROM inbox_messages").scalar()
    except sa.exc.SQLAlchemyError as exc:
        return f"store: not readable ({type(exc).__name__})"
    finally:
        engine.dispose()
    return (f"store: inbox messages {inbox}; reports {reports}; submissions {submissions}; "
            f"outbox {unpublished or 0} unpublished of {total}")


def account(events: Iterable[Mapping[str, Any]], store_url: str, dump: str) -> str:
    """The account of a stall in a few dozen lines, the store's states last."""
    counts, bad = summary(events)
    return "\n".join([
        "threads (most recent call first):", *(f"  {t}" for t in threads(dump)),
        "last warnings and errors:", *(f"  {b}" for b in bad or ["(none)"]),
        "events: " + ", ".join(f"{name} {n}" for name, n in counts.most_common(20)),
        store_states(store_url),
    ])


def diagnose(log_path: Path, store_url: str) -> str:
    """:func:`account` of a daemon in its own process, from its log (stacks dumped in it)."""
    return (f"the daemon's log: {log_path}\n"
            + account(json_log(log_path), store_url, log_path.read_text(errors="replace")))
