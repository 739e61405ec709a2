"""A plain page of feedback (each item another of our reports) is applied set-based,
with what the item-by-item path leaves (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.domain.model import Status
from adapter.store import Store
from adapter.store import schema as t
from adapter.store import terugmeldingen
from adapter.store.bulk import COPY_FROM

from .factories import T0, accept, report
from .test_feedback import _tm

LATER = T0 + timedelta(days=1)


def _four_registered(store: Store, group: str, count: int = 4) -> None:
    accept(store, f"m-{group}", *[report(f"{group}{n}", bsn=f"{group}{n}")
                                  for n in range(1, count + 1)])
    claims = [c for c in store.claim_due(limit=3 * count, now=LATER)
              if c.melding.source_id.startswith(group)]
    for claim in claims:
        store.mark_registered(claim.submission_id, meldingsnummer=f"{group}-{claim.melding.source_id}",
                              status="R", laatste_mutatie=T0 + timedelta(hours=2))
    store.mark_published([i for i, e in store.pending_events(limit=50) if e.event == "registered"])


def _apply_pages(store: Store, group: str) -> list[int]:
    def nr(n: int) -> str:
        return f"{group}-{group}{n}"
    first = store.apply_feedback([_tm(nr(4), Status.B, 3)], watermark=LATER, name="fb")
    page = [_tm(nr(1), Status.B, 3),          # newer: the report takes it
            _tm(nr(2), Status.I, 4),          # withdraws
            _tm(nr(3), Status.B, 1),          # older than the report's stamp: kept only
            _tm(nr(4), Status.B, 3)]          # stored already: left out
    return [first, store.apply_feedback(page, watermark=LATER, name="fb")]


def _snapshot(store: Store, group: str) -> dict[str, Any]:
    """What the pages left for the group's reports, the group's name taken out."""
    r, h, m = t.reports.c, t.report_history.c, t.terugmeldingen.c
    with store.database.read("t") as conn:
        reports = conn.execute(sa.select(r.id, r.source_id, r.state, r.duo_status,
                                         r.laatste_mutatie).where(r.source_id.like(f"{group}%"))
                               .order_by(r.id)).all()
        ids = [row.id for row in reports]
        position = {rid: n for n, rid in enumerate(ids)}
        history = conn.execute(sa.select(h.report_id, h.event, h.from_state, h.to_state,
                                         h.detail).where(h.report_id.in_(ids))
                               .order_by(h.id)).all()
        rows = conn.execute(sa.select(m.report_id, m.laatste_mutatie, m.status, m.data)
                            .where(m.report_id.in_(ids)).order_by(m.id)).all()
    events = [(e.source_id, {k: v for k, v in e.data.items() if k != "meldingsnummer"})
              for _, e in store.pending_events(limit=50) if (e.source_id or "").startswith(group)]
    return {
        "reports": [(row.state, row.duo_status, row.laatste_mutatie) for row in reports],
        "history": [(position[row.report_id], row.event, row.from_state, row.to_state,
                     re.sub(r"[0-9]+", "#", row.detail or "")) for row in history],
        "terugmeldingen": [(position[row.report_id], row.laatste_mutatie, row.status,
                            {k: v for k, v in row.data.items() if k != "meldingsnummer"})
                           for row in rows],
        "events": [(source.removeprefix(group), data) for source, data in events],
    }


def plain_pages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one for each page applied set-based from now on."""
    calls: list[int] = []
    real = terugmeldingen.apply_plain_page

    def spy(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(terugmeldingen, "apply_plain_page", spy)
    return calls


def test_a_plain_page_leaves_what_item_by_item_leaves(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = plain_pages(monkeypatch)
    _four_registered(store, "a")
    assert _apply_pages(store, "a") == [1, 3]
    assert len(calls) == 2                              # both pages set-based
    _four_registered(store, "b")
    with monkeypatch.context() as item_by_item:         # no report is "ours" to the check
        item_by_item.setattr(terugmeldingen, "ADAPTER", "nobody's")
        assert _apply_pages(store, "b") == [1, 3]
    assert len(calls) == 2                              # neither page set-based
    plain, one_by_one = _snapshot(store, "a"), _snapshot(store, "b")
    assert [(state, status) for state, status, _ in plain["reports"]] == [
        ("registered", "B"), ("withdrawn", "I"), ("registered", "R"), ("registered", "B")]
    assert len(plain["events"]) == 4
    assert plain == one_by_one


def test_a_page_naming_a_report_twice_goes_item_by_item(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _four_registered(store, "c")

    def not_plain(*_: Any, **__: Any) -> int:
        raise AssertionError("a page naming a report twice is not plain")

    monkeypatch.setattr(terugmeldingen, "apply_plain_page", not_plain)
    page = [_tm("c-c1", Status.B, 3), _tm("c-c1", Status.G, 4)]
    assert store.apply_feedback(page, watermark=LATER, name="fb") == 2
    [first] = [r for r in store.list_reports() if r.source_id == "c1"]
    assert first.duo_status == "G"


@pytest.mark.parametrize("path", ["plain", "item by item"])
def test_feedback_repeating_the_registration_leaves_the_report_row_as_it_is(
        store: Store, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    # DUO's feed names a report just registered with the status and stamp its answer
    # brought: the feedback is kept and told, the report row (its updated_at, which the
    # signaler follows) is not written again.
    group = "e" if path == "plain" else "f"
    if path != "plain":
        monkeypatch.setattr(terugmeldingen, "ADAPTER", "nobody's")
    _four_registered(store, group)
    r = t.reports.c

    def rows() -> dict[str, tuple[Any, ...]]:
        with store.database.read("t") as conn:
            return {row.source_id: (row.state, row.duo_status, row.laatste_mutatie,
                                    row.updated_at)
                    for row in conn.execute(sa.select(r.source_id, r.state, r.duo_status,
                                                      r.laatste_mutatie, r.updated_at)
                                            .where(r.source_id.like(f"{group}%")))}

    before = rows()
    page = [_tm(f"{group}-{group}1", Status.R, 2),     # the registration's status and stamp
            _tm(f"{group}-{group}2", Status.B, 2)]     # same stamp, another status
    assert store.apply_feedback(page, watermark=LATER, name="fb") == 2
    after = rows()
    assert after[f"{group}1"] == before[f"{group}1"]
    assert after[f"{group}2"][1] == "B" and after[f"{group}2"][3] > before[f"{group}2"][3]
    told = [e.source_id for _, e in store.pending_events(limit=50)
            if e.event == "terugmelding" and (e.source_id or "").startswith(group)]
    assert sorted(told) == [f"{group}1", f"{group}2"]


def test_a_large_plain_page_stores_each_item_once(store: Store) -> None:
    # From COPY_FROM rows on, PostgreSQL stores a plain page's terugmeldingen by COPY,
    # which knows no ON CONFLICT: the items stored already must be left out before.
    count = COPY_FROM + 3
    _four_registered(store, "d", count)
    page = [_tm(f"d-d{n}", Status.B, 3) for n in range(1, count + 1)]
    assert store.apply_feedback(page, watermark=LATER, name="fb") == count
    assert store.apply_feedback(page, watermark=LATER, name="fb") == 0      # a repeat
    page[4] = _tm("d-d5", Status.G, 5)                                      # one newer
    assert store.apply_feedback(page, watermark=LATER, name="fb") == 1
    snapshot = _snapshot(store, "d")
    assert len(snapshot["terugmeldingen"]) == count + 1
    assert [status for _, status, _ in snapshot["reports"]] == ["B"] * 4 + ["G"] + ["B"] * 4


def _in_flight_page(store: Store, group: str) -> list[int]:
    """Three reports registered and one whose answer is not stored yet (still claimed):
    DUO's feed names all four, the last by a meldingsnummer no report holds yet."""
    accept(store, f"m-{group}", *[report(f"{group}{n}", bsn=f"{group}{n}") for n in range(1, 5)])
    claims = sorted((c for c in store.claim_due(limit=12, now=LATER)
                     if c.melding.source_id.startswith(group)),
                    key=lambda c: c.melding.source_id)
    for claim in claims[:3]:
        store.mark_registered(claim.submission_id, meldingsnummer=f"{group}-{claim.melding.source_id}",
                              status="R", laatste_mutatie=T0 + timedelta(hours=2))
    store.mark_published([i for i, e in store.pending_events(limit=50) if e.event == "registered"])
    page = [_tm(f"{group}-{group}{n}", Status.B, 3) for n in range(1, 4)]
    page.append(replace(_tm(f"{group}-new", Status.R, 2),
                        identificatiecode_bedrijfsdocument=claims[3].document_id))
    return [store.apply_feedback(page, watermark=LATER, name="fb")]


def test_a_page_naming_a_report_not_stored_yet_is_plain(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by its document id, as item by item finds it: the page stays set-based.
    calls = plain_pages(monkeypatch)
    assert _in_flight_page(store, "e") == [4]
    assert calls == [1]
    with monkeypatch.context() as item_by_item:
        item_by_item.setattr(terugmeldingen, "ADAPTER", "nobody's")
        assert _in_flight_page(store, "f") == [4]
    assert calls == [1]
    plain, one_by_one = _snapshot(store, "e"), _snapshot(store, "f")
    assert plain["reports"][3][1:] == ("R", T0 + timedelta(hours=2))  # the feed's status
    assert len(plain["terugmeldingen"]) == 4
    assert plain == one_by_one
