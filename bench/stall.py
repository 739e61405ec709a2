"""What a bench says when the daemon stops registering: a short account, not the whole log.

A stalled run used to end with the last 12,000 characters of the daemon's log, and a
test that shows only the end of a bench's output then showed one thread's stack and
nothing of why. :func:`diagnose` sums up, most telling last: the daemon's threads (the
top of each stack, as ``adapter.pipeline.stacks`` wrote them on SIGUSR1), its warnings
and errors (event names and error classes: the log holds no personal data), the count
of each event, and the store's rows by state.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

THREAD = re.compile(r'^Thread 0x[0-9a-f]+ "(?P<name>[^"]*)"')
FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def threads(log: str, frames: int = 4) -> list[str]:
    """One line per thread of the last stack dump in ``log``: its name and the top
    ``frames`` frames (file name, line, function)."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if THREAD.match(line)]
    if not starts:
        return ["(no stack dump in the log)"]
    # the last dump: the run of thread headers that ends with the last one
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


def events(log: str, last: int = 10) -> tuple[Counter[str], list[str]]:
    """The count of each log event, and the last ``last`` warnings and errors (event,
    error class, count or reason code where the event has one)."""
    counts: Counter[str] = Counter()
    bad: list[str] = []
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        counts[str(event.get("event"))] += 1
        if event.get("level") in ("warning", "error", "critical"):
            keys = ("error", "count", "code", "reason_code", "after")
            extra = " ".join(f"{k}={event[k]}" for k in keys if k in event)
            bad.append(f"{event.get('level')} {event.get('event')} {extra}".rstrip())
    return counts, bad[-last:]


def store_states(url: str) -> str:
    """Rows by state in the store at ``url``: reports, submissions, the outbox."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            reports = dict(conn.exec_driver_sql(
                "SELECT state, count(*) FROM reports GROUP BY state").all())
            submissions = dict(conn.exec_driver_sql(
                "SELECT state, count(*) FROM submissions GROUP BY state").all())
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


def diagnose(log_path: Path, store_url: str) -> str:
    """The account of a stalled run, in a few dozen lines."""
    log = log_path.read_text(errors="replace")
    counts, bad = events(log)
    return "\n".join([
        f"the daemon's log: {log_path}",
        "threads (most recent call first):", *(f"  {t}" for t in threads(log)),
        "last warnings and errors:", *(f"  {b}" for b in bad or ["(none)"]),
        "events: " + ", ".join(f"{name} {n}" for name, n in counts.most_common(20)),
        store_states(store_url),
    ])
