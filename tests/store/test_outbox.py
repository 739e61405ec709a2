"""The outbox queries the relay uses to stay fair: leaving stopped routes out, probing them."""

from __future__ import annotations

from datetime import datetime, timezone

from adapter.store import Store
from adapter.store import outbox as _outbox

AT = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _add(store: Store, n: int, vendor: str, brin: str = "00AA", event: str = "registered") -> None:
    store._db.run("test", lambda conn: _outbox.outbox_event(
        conn, message_id=f"m-{vendor}-{brin}-{event}-{n}", vendor=vendor, brin=brin, event=event,
        source_id=None, data={"n": n}, at=AT))


def test_pending_events_leave_out_excluded_routes(store: Store) -> None:
    for n in range(30):
        _add(store, n, "a")
    _add(store, 0, "a", event="rejected")
    for n in range(5):
        _add(store, n, "b")
    assert all(e.vendor == "a" for _, e in store.pending_events(10))
    rows = store.pending_events(10, [("a", "00AA", "registered")])
    assert [(e.vendor, e.event) for _, e in rows] == [("a", "rejected")] + [("b", "registered")] * 5
    assert [i for i, _ in rows] == sorted(i for i, _ in rows)
    rows = store.pending_events(10, exclude=[("a", "00AA", "registered"),
                                             ("a", "00AA", "rejected")])
    assert {e.vendor for _, e in rows} == {"b"}


def test_first_pending_events_one_oldest_row_per_route(store: Store) -> None:
    for n in range(3):
        _add(store, n, "a")
        _add(store, n, "b")
    first = store.pending_events(1)[0][0]
    store.mark_published([first])
    probes = store.first_pending_events([("a", "00AA", "registered"), ("b", "00AA", "registered"),
                                         ("c", "00AA", "registered")])
    assert [(e.vendor, e.data["n"]) for _, e in probes] == [("b", 0), ("a", 1)]
