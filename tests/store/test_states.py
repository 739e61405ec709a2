"""The submission state machine: pure properties, then the store driven by random outcomes."""

from __future__ import annotations

import tempfile
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.store import IllegalTransition, Store
from adapter.store import states as S

from .factories import T0, accept, report

OUTCOMES = ("ok", "reject", "transient", "timeout", "crash", "release", "give_up")


def test_tables_are_closed_and_terminal_states_absorb() -> None:
    assert set(S.SUBMISSION_TRANSITIONS) == set(S.SUBMISSION_STATES)
    for targets in S.SUBMISSION_TRANSITIONS.values():
        assert targets <= set(S.SUBMISSION_STATES)
    for state in S.TERMINAL:   # only an operator's replay leaves one (failed → pending)
        assert {(state, to) for to in S.SUBMISSION_TRANSITIONS[state]} <= S.OPERATOR_TRANSITIONS
    assert set(S.EVENTS.values()) <= set(S.SUBMISSION_STATES)


def test_every_state_can_still_finish() -> None:
    """No dead ends: from every state some path leads to a terminal state."""
    for start in S.SUBMISSION_STATES:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in S.SUBMISSION_TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & S.TERMINAL


@given(st.lists(st.sampled_from(sorted(S.EVENTS)), max_size=30))
def test_random_events_end_terminal_or_retriable(events: list[str]) -> None:
    state = S.PENDING
    for event in events:
        try:
            state = S.next_state(state, event)
        except IllegalTransition as exc:
            assert exc.to_state not in S.SUBMISSION_TRANSITIONS[state]
    if state == S.SUBMITTING:            # a process that stops here is recovered at start-up
        state = S.next_state(state, "crash")
    assert state in S.TERMINAL | S.RETRIABLE


def test_illegal_transition_is_explicit() -> None:
    with pytest.raises(IllegalTransition, match="done -> submitting"):
        S.check_submission(S.DONE, S.SUBMITTING, row_id=7)
    with pytest.raises(IllegalTransition):
        S.check_report(S.WITHDRAWN, S.REGISTERED)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=12))
def test_store_keeps_one_document_id_per_aanlevering(outcomes: list[str]) -> None:
    """Random DUO outcomes against a real (SQLite) store: the model and the store agree,
    every send of the aanlevering carries the same id, and it ends terminal or retriable."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/s.db")
        try:
            _drive(store, outcomes)
        finally:
            store.close()


def _drive(store: Store, outcomes: list[str]) -> None:
    accept(store, "m-1", report("r1"))
    far = T0 + timedelta(days=365 * 50)
    model = S.PENDING
    sent_ids: set[str] = set()
    for outcome in outcomes:
        if model in S.TERMINAL:
            break
        claims = (store.claim_due(limit=5, now=far) if model == S.PENDING
                  else store.claim_unknown(limit=5))
        assert len(claims) == 1
        claim = claims[0]
        model = S.next_state(model, "claim")
        sent_ids.add(claim.document_id)
        sid = claim.submission_id
        if outcome == "ok":
            store.mark_registered(sid, meldingsnummer="N1", status="R", laatste_mutatie=T0)
        elif outcome == "reject":
            store.mark_rejected(sid, errors=[("F1", "regel")])
        elif outcome == "transient":
            store.retry_later(sid, at=T0, error="503")
        elif outcome == "timeout":
            store.mark_unknown(sid, error="read timeout")
        elif outcome == "crash":
            assert store.recover_interrupted() == 1
        elif outcome == "release":
            store.release(sid)
        else:
            store.mark_failed(sid, reason="gave up")
        model = S.next_state(model, outcome)
        assert store.counts()["submissions"] == {model: 1}
    assert len(sent_ids) == 1
    if model == S.SUBMITTING:
        store.recover_interrupted()
        model = S.UNKNOWN
    assert model in S.TERMINAL | S.RETRIABLE
    assert store.counts()["submissions"] == {model: 1}
