"""A run of new reports stored set-based (``Store.accept_many``): what ``accept`` leaves
message by message, in fewer statements; anything else falls back to that (SQLite and
PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from adapter.domain.model import Student
from adapter.store import IncomingReport, Store
from adapter.store import schema as t

from .factories import T0, melding, report

Message = tuple[str, str, str, Sequence[Any]]


def _run(prefix: str, n: int = 6) -> list[Message]:
    """One report per message; two of them for one student (by leerlingnummer, first
    seen in this run), the rest for students of their own."""
    out: list[Message] = []
    for i in range(n):
        base = 200000000 + 1000 * ord(prefix[0])      # students of this run alone
        student = (Student(bsn=f"{base + 99}", leerlingnummer=f"{prefix}-L1") if i in (1, 4)
                   else Student(bsn=f"{base + i}"))
        item = IncomingReport(vendor="acme", melding=melding(f"{prefix}{i}", student=student))
        out.append((f"{prefix}-m{i}", "acme", "acme.export", [item]))
    return out


def _snapshot(store: Store, prefix: str) -> dict[str, Any]:
    """What the run left, with its own ids, document ids and times left out."""
    r, s, h = t.reports.c, t.submissions.c, t.report_history.c
    with store.database.read("t") as conn:
        reports = conn.execute(sa.select(r.id, r.source_id, r.student_key, r.verzuimsoort,
                                         r.payload, r.record, r.content_hash, r.state)
                               .where(r.source_id.like(f"{prefix}%")).order_by(r.id)).all()
        ids = [row.id for row in reports]
        subs = conn.execute(sa.select(s.report_id, s.student_key, s.operation, s.payload,
                                      s.content_hash, s.state, s.attempts)
                            .where(s.report_id.in_(ids)).order_by(s.id)).all()
        history = conn.execute(sa.select(h.report_id, h.event, h.from_state, h.to_state,
                                         h.detail).where(h.report_id.in_(ids))
                               .order_by(h.id)).all()
        inbox = conn.execute(sa.select(t.inbox_messages.c.message_id, t.inbox_messages.c["items"])
                             .where(t.inbox_messages.c.message_id.like(f"{prefix}-%"))
                             .order_by(t.inbox_messages.c.id)).all()
    position = {rid: n for n, rid in enumerate(ids)}
    return {
        "reports": [(row.source_id.removeprefix(prefix), row.student_key, row.verzuimsoort,
                     _unprefixed(row.payload, prefix), _unprefixed(row.record, prefix),
                     row.state) for row in reports],
        "submissions": [(position[row.report_id], row.student_key, row.operation,
                         _unprefixed(row.payload, prefix), row.state, row.attempts)
                        for row in subs],
        "history": [(position[row.report_id], row.event, row.from_state, row.to_state,
                     re.sub(r"[0-9]+", "#", row.detail or "")) for row in history],
        "inbox": [(m.removeprefix(prefix), items) for m, items in inbox],
    }


def _unprefixed(payload: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k: (v.removeprefix(prefix) if isinstance(v, str) else v)
            for k, v in payload.items()
            if k not in ("student",)} | {"student": _student(payload.get("student"), prefix)}


def _student(student: Any, prefix: str) -> Any:
    if not isinstance(student, dict):
        return student
    return {k: (v.removeprefix(prefix) if isinstance(v, str) else v)
            for k, v in student.items() if k != "bsn"}       # each run its own students


def _one_by_one(store: Store, run: list[Message]) -> None:
    for message_id, vendor, routing_key, items in run:
        store.accept(message_id=message_id, vendor=vendor, routing_key=routing_key,
                     items=list(items), now=T0)


def _statements(store: Store) -> Callable[[], int]:
    seen = [0]
    sa.event.listen(store.database.engine, "before_cursor_execute",
                    lambda *_: seen.__setitem__(0, seen[0] + 1))
    return lambda: seen[0]


def test_a_run_of_new_reports_leaves_what_one_message_after_the_other_leaves(
        store: Store) -> None:
    _one_by_one(store, _run("a"))
    count = _statements(store)
    results = store.accept_many(_run("b"), now=T0)
    assert count() < 15                       # a few statements, not six per message
    assert [(r.new_reports, r.duplicate_message) for r in results] == [(1, False)] * 6
    expected, got = _snapshot(store, "a"), _snapshot(store, "b")
    # the student keys differ by leerlingnummer (a-L1, b-L1): compare their pattern
    for snap in (expected, got):
        keys = {row[1]: n for n, row in enumerate(snap["reports"])}
        snap["reports"] = [(*row[:1], keys[row[1]], *row[2:]) for row in snap["reports"]]
        snap["submissions"] = [(row[0], keys[row[1]], *row[2:]) for row in snap["submissions"]]
    assert got == expected
    assert got["reports"][4][1] == got["reports"][1][1]         # one student, by alias
    # the student's reports are queued in message order
    subs = [c for c in store.claim_due(limit=50, now=T0 + timedelta(days=1))
            if c.melding.source_id.startswith("b")]
    assert sorted(c.melding.source_id for c in subs) == ["b0", "b1", "b2", "b3", "b5"]


def _fallback(store: Store, run: list[Message], **kw: Any) -> None:
    count = _statements(store)
    store.accept_many(run, now=T0, **kw)
    assert count() > 15                       # message by message


def test_a_known_report_in_the_run_is_stored_message_by_message(store: Store) -> None:
    store.accept(message_id="c-first", vendor="acme", routing_key="acme.export",
                 items=[report("c2", bsn=f"{200000000 + 1000 * ord('c') + 2}")], now=T0)
    run = _run("c")
    _fallback(store, run)
    states = {r.source_id: r.state for r in store.list_reports()}
    assert len(states) == 6 and set(states.values()) == {"queued"}
    assert store.counts()["submissions"] == {"pending": 6}     # c2's pending one was replaced


def test_a_message_id_already_in_the_inbox_is_a_duplicate(store: Store) -> None:
    run = _run("d")
    store.accept_many(run[:2], now=T0)
    count = _statements(store)
    results = store.accept_many(run, now=T0)
    assert count() > 15
    assert [r.duplicate_message for r in results] == [True, True, False, False, False, False]


def test_a_refused_report_falls_back_and_is_refused_on_its_own(store: Store) -> None:
    run = _run("e")

    def check(m: Any) -> list[tuple[str, str, str]]:
        return [("begindatum", "rule", "AD001")] if m.source_id == "e3" else []

    _fallback(store, run, check=check)
    assert sorted(r.source_id for r in store.list_reports()) == ["e0", "e1", "e2", "e4", "e5"]
    assert [e.event for _, e in store.pending_events(limit=10)] == ["rejected"]


def test_a_run_across_schools_pairs_each_report_with_its_own_submission(store: Store) -> None:
    """Reports are found by business key a school at a time: one source id at two
    schools is two reports, the one already stored at the first school does not send
    the run the slow way, and each submission carries its own report's content."""
    store.accept(message_id="d-first", vendor="acme", routing_key="acme.export",
                 items=[report("d-known", brin="00AA", bsn="200000010")], now=T0)
    run: list[Message] = []
    for i, (brin, source_id) in enumerate([("00BB", "d-known"), ("00AA", "d1"),
                                           ("00BB", "d1"), ("00AA", "d2")]):
        item = IncomingReport(vendor="acme", melding=melding(
            source_id, brin=brin, bsn=f"{200000020 + i}"))
        run.append((f"d-m{i}", "acme", "acme.export", [item]))
    count = _statements(store)
    results = store.accept_many(run, now=T0)
    assert count() < 18                       # set-based: two look-ups more, per school
    assert [r.new_reports for r in results] == [1] * 4
    claims = store.claim_due(limit=50, now=T0 + timedelta(days=1))
    sent = sorted((c.melding.brin, c.melding.source_id, c.melding.student.bsn) for c in claims)
    assert sent == [("00AA", "d-known", "200000010"), ("00AA", "d1", "200000021"),
                    ("00AA", "d2", "200000023"), ("00BB", "d-known", "200000020"),
                    ("00BB", "d1", "200000022")]
    by_report = {r.report_id: (r.brin, r.source_id) for r in store.list_reports()}
    assert sorted(by_report[c.report_id] for c in claims) == [s[:2] for s in sent]
