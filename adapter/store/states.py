"""The state machines of submissions and reports, as pure data and functions.

The store consults these tables before every state change and refuses an
illegal one with :class:`IllegalTransition` (an explicit error, never an
``assert``), so a bug or a race in a caller cannot silently move a submission
backwards, e.g. re-open a ``done`` submission and send it twice.

Submission states (see :mod:`adapter.store.api`)::

    pending ──claim──▶ submitting ──▶ done | rejected | unknown | failed | pending
    unknown ──claim_unknown──▶ submitting;  unknown ──▶ done | pending | rejected | failed
    pending ──▶ cancelled   (the SIS deleted a report that was never sent)
    failed ──replay──▶ pending   (an operator's ``replay``: same document id, attempts 0)

``cancelled`` is an addition to the original diagram: it is terminal. ``failed``
is terminal for the daemon (:data:`TERMINAL`): only an operator's replay
(:mod:`adapter.store.replay`) moves it on, back to ``pending``.
"""

from __future__ import annotations

from adapter.errors import AdapterError

PENDING = "pending"
SUBMITTING = "submitting"
DONE = "done"
REJECTED = "rejected"
UNKNOWN = "unknown"
FAILED = "failed"
CANCELLED = "cancelled"

SUBMISSION_STATES = (PENDING, SUBMITTING, DONE, REJECTED, UNKNOWN, FAILED, CANCELLED)
TERMINAL = frozenset({DONE, REJECTED, FAILED, CANCELLED})
RETRIABLE = frozenset({PENDING, UNKNOWN})
#: states of a submission that still has to reach DUO: newer submissions of the
#: same student wait for it (per-student ordering).
ACTIVE = frozenset({PENDING, SUBMITTING, UNKNOWN})

SUBMISSION_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({SUBMITTING, CANCELLED}),
    SUBMITTING: frozenset({DONE, REJECTED, UNKNOWN, FAILED, PENDING}),
    UNKNOWN: frozenset({SUBMITTING, DONE, PENDING, REJECTED, FAILED}),
    DONE: frozenset(),
    REJECTED: frozenset(),
    FAILED: frozenset({PENDING}),    # replay (operator): same document id, attempts reset
    CANCELLED: frozenset(),
}

#: the transitions only an operator makes (``replay``), never the daemon.
OPERATOR_TRANSITIONS: frozenset[tuple[str, str]] = frozenset({(FAILED, PENDING)})

#: what each outcome does to a submission, as (store method, target state).
EVENTS: dict[str, str] = {
    "claim": SUBMITTING,             # claim_due (pending) / claim_unknown (unknown)
    "ok": DONE,                      # mark_registered
    "reject": REJECTED,              # mark_rejected
    "transient": PENDING,            # retry_later
    "timeout": UNKNOWN,              # mark_unknown
    "crash": UNKNOWN,                # recover_interrupted at start-up
    "release": PENDING,              # release at shutdown
    "give_up": FAILED,               # mark_failed
    "cancel": CANCELLED,             # accept: the SIS deleted a never-sent report
    "replay": PENDING,               # replay (operator): a failed submission resent
}

# Report states.
QUEUED = "queued"
REGISTERED = "registered"
WITHDRAWN = "withdrawn"
#: a V4 report the student's municipality does not want (regional agreement):
#: stored, not sent, no submission; released when the agreement allows it.
HELD = "held"
REPORT_STATES = (QUEUED, REGISTERED, REJECTED, FAILED, WITHDRAWN, HELD)

REPORT_TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({REGISTERED, REJECTED, FAILED, WITHDRAWN, HELD}),
    REGISTERED: frozenset({WITHDRAWN}),
    REJECTED: frozenset({QUEUED, HELD}),  # the SIS sent a corrected version: resend (or hold)
    FAILED: frozenset({QUEUED}),       # replay (operator): its failed aanleveren resent
    WITHDRAWN: frozenset(),
    HELD: frozenset({QUEUED, WITHDRAWN}),  # released by the agreement / deleted by the SIS
}


class IllegalTransition(AdapterError):
    """A caller asked for a state change the state machine does not allow.

    Names the kind, ids and states only. Raised instead of ``assert`` so it
    survives ``python -O``; it means a bug or a race in the caller, and the
    transaction that raised it has been rolled back.
    """

    def __init__(self, kind: str, from_state: str, to_state: str, *,
                 row_id: int | None = None) -> None:
        self.kind = kind
        self.from_state = from_state
        self.to_state = to_state
        self.row_id = row_id
        where = f" {row_id}" if row_id is not None else ""
        super().__init__(f"illegal {kind}{where} transition {from_state} -> {to_state}")


def check_submission(from_state: str, to_state: str, *, row_id: int | None = None) -> None:
    """Raise :class:`IllegalTransition` unless ``from_state → to_state`` is allowed."""
    if to_state not in SUBMISSION_TRANSITIONS.get(from_state, frozenset()):
        raise IllegalTransition("submission", from_state, to_state, row_id=row_id)


def check_report(from_state: str, to_state: str, *, row_id: int | None = None) -> None:
    """Raise :class:`IllegalTransition` unless the report may go ``from_state → to_state``."""
    if from_state == to_state:
        return
    if to_state not in REPORT_TRANSITIONS.get(from_state, frozenset()):
        raise IllegalTransition("report", from_state, to_state, row_id=row_id)


def sources_of(to_state: str) -> frozenset[str]:
    """Every submission state from which ``to_state`` may be reached."""
    return frozenset(s for s, targets in SUBMISSION_TRANSITIONS.items() if to_state in targets)


def next_state(state: str, event: str) -> str:
    """The submission state after ``event`` (a key of :data:`EVENTS`), or raise."""
    target = EVENTS[event]
    check_submission(state, target)
    return target
