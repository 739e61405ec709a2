"""tests/stall.py: the account a stalled run gives, from a real stack dump and a real store."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

from adapter.pipeline import stacks
from adapter.store import Store

from stall import diagnose
from store.conftest import TEST_STUDENT_SECRET
from store.factories import accept, report


def test_the_account_names_each_thread_the_warnings_and_the_stores_states(
        tmp_path: Path) -> None:
    release = threading.Event()
    waiter = threading.Thread(target=release.wait, name="claim-loop-under-test")
    waiter.start()
    try:
        dump = io.StringIO()
        dump.write(stacks.format_stacks())
    finally:
        release.set()
        waiter.join()
    lines = [
        json.dumps({"event": "daemon_started", "level": "info"}),
        # an older dump must not be taken for the last one
        'Thread 0x0000000000000001 "stale-thread" (most recent call first):',
        '  File "/x/old.py", line 1 in old',
        "",
        json.dumps({"event": "submission_failed", "level": "warning", "error": "Timeout"}),
        json.dumps({"event": "record_registered", "level": "info"}),
        json.dumps({"event": "record_registered", "level": "info"}),
        dump.getvalue(),
    ]
    log = tmp_path / "daemon.log"
    log.write_text("\n".join(lines))
    url = f"sqlite:///{tmp_path}/store.db"
    store = Store.open(url, student_secret=TEST_STUDENT_SECRET)
    try:
        accept(store, "m-1", report("r1", bsn="100000009"))
    finally:
        store.close()

    account = diagnose(log, url).splitlines()

    threads = account[account.index("threads (most recent call first):") + 1:
                      account.index("last warnings and errors:")]
    waiting = [t for t in threads if t.startswith("  claim-loop-under-test: ")]
    assert waiting and "threading.py:" in waiting[0] and " wait" in waiting[0], threads
    assert not any("stale-thread" in t for t in threads), threads
    assert "  warning submission_failed error=Timeout" in account
    events = next(line for line in account if line.startswith("events: "))
    assert "record_registered 2" in events and "daemon_started 1" in events
    assert account[-1] == ("store: inbox messages 1; reports {'queued': 1}; "
                           "submissions {'pending': 1}; outbox 0 unpublished of 0"), account[-1]


def test_events_captured_in_the_process_count_as_log_lines_do() -> None:
    # structlog's capture_logs (the fault rig) names the level log_level, the log level
    import structlog
    from structlog.testing import capture_logs

    from stall import summary

    with capture_logs() as captured:
        structlog.get_logger("test").warning("outbox_mark_failed", count=3, error="StoreUnavailable",
                                   reason="a free text that must not be shown")
        structlog.get_logger("test").info("report_registered")
    counts, bad = summary(captured)
    assert counts == {"outbox_mark_failed": 1, "report_registered": 1}
    assert bad == ["warning outbox_mark_failed error=StoreUnavailable count=3"]
