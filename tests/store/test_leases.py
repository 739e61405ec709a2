"""Claims with an owner and a lease, and named leases: replicas on one store.

Each test opens a second :class:`Store` on the same database as another replica
would (its own ``replica`` name), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from adapter.errors import ConfigError
from adapter.store import Store
from adapter.store import schema as t
from adapter.store.crypto import Cipher
from adapter.store.leases import ClaimLost, LeaseLost
from adapter.store.pseudonyms import StudentKeySecret

from .factories import T0, accept, report

NOW_PLUS = T0 + timedelta(days=3650)   # "now" for claims: every test submission is due


@pytest.fixture
def other(store_url: str, store_cipher: Cipher, student_secret: StudentKeySecret,
          store: Store) -> Iterator[Store]:
    """A second replica on the same database (opened after ``store`` migrated it)."""
    s = Store.open(store_url, cipher=store_cipher, student_secret=student_secret)
    try:
        yield s
    finally:
        s.close()


def _row(store: Store, submission_id: int) -> sa.Row[object]:
    with store._db.read("test") as conn:
        return conn.execute(sa.select(t.submissions).where(
            t.submissions.c.id == submission_id)).one()


def _expire(store: Store, submission_id: int) -> None:
    with store._db.write("test") as conn:
        conn.execute(t.submissions.update().where(t.submissions.c.id == submission_id)
                     .values(lease_until=T0))


def test_a_claim_names_its_replica_and_a_lease_that_renewal_extends(store: Store) -> None:
    store.claim_lease = timedelta(seconds=30)
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=1, now=NOW_PLUS)
    row = _row(store, claim.submission_id)
    assert row.claimed_by == store.replica
    assert row.lease_until is not None
    store.claim_lease = timedelta(hours=1)
    assert store.renew_claims([claim.submission_id]) == 1
    assert _row(store, claim.submission_id).lease_until > row.lease_until + timedelta(minutes=50)


def test_replicas_have_distinct_names(store: Store, other: Store) -> None:
    assert store.replica != other.replica


def test_a_live_claim_is_left_alone_an_expired_one_is_recovered(store: Store,
                                                                 other: Store) -> None:
    accept(store, "m-1", report("r1"))
    accept(store, "m-2", report("r2", bsn="111222333"))
    claims = store.claim_due(limit=5, now=NOW_PLUS)
    assert len(claims) == 2
    assert other.recover_expired() == 0                    # both leases run: untouched
    _expire(store, claims[0].submission_id)
    assert other.recover_expired() == 1                    # the dead one's claim only
    assert _row(store, claims[0].submission_id).state == "unknown"
    assert _row(store, claims[1].submission_id).state == "submitting"
    # recovered means reconciled by document id, never resent blindly
    [rec] = other.claim_unknown(limit=5)
    assert rec.document_id == claims[0].document_id
    assert _row(other, rec.submission_id).claimed_by == other.replica


def test_an_outcome_for_a_claim_taken_over_is_refused(store: Store, other: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=1, now=NOW_PLUS)
    _expire(store, claim.submission_id)
    assert other.recover_expired() == 1
    [rec] = other.claim_unknown(limit=1)
    # the first replica wakes up late with DUO's answer: the other one holds the claim now
    with pytest.raises(ClaimLost):
        store.mark_registered(claim.submission_id, meldingsnummer="M1", status="B",
                              laatste_mutatie=T0)
    other.mark_registered(rec.submission_id, meldingsnummer="M1", status="B",
                          laatste_mutatie=T0)
    assert _row(other, rec.submission_id).state == "done"


def test_renewal_leaves_rows_that_are_no_longer_claimed(store: Store) -> None:
    accept(store, "m-1", report("r1"))
    [claim] = store.claim_due(limit=1, now=NOW_PLUS)
    store.mark_registered(claim.submission_id, meldingsnummer="M1", status="B",
                          laatste_mutatie=T0)
    assert store.renew_claims([claim.submission_id]) == 0


def test_one_holder_of_a_named_lease_at_a_time(store: Store, other: Store) -> None:
    assert store.take_lease("feedback_poller", seconds=30) == 1
    assert store.take_lease("feedback_poller", seconds=30) == 1  # renewed: same epoch
    assert other.take_lease("feedback_poller", seconds=30) is None
    assert store.lease_holder("feedback_poller") == store.replica
    store.drop_lease("feedback_poller")                          # a clean stop: at once
    assert store.lease_holder("feedback_poller") is None
    assert other.take_lease("feedback_poller", seconds=30) == 2  # a new holder, a new epoch
    assert store.take_lease("feedback_poller", seconds=30) is None


def test_feedback_commits_only_in_the_epoch_it_was_fetched_in(store: Store,
                                                              other: Store) -> None:
    epoch = store.take_lease("feedback_poller", seconds=30)
    assert epoch is not None
    assert store.apply_feedback([], watermark=T0, name="feedback:00AA",
                                lease=("feedback_poller", epoch)) == 0
    with store._db.write("test") as conn:       # its holder stalled: the lease ran out
        conn.execute(t.leases.update().values(expires_at=T0))
    assert other.take_lease("feedback_poller", seconds=30) == epoch + 1
    with pytest.raises(LeaseLost):                # the stalled one's late page is refused
        store.apply_feedback([], watermark=T0 + timedelta(days=1), name="feedback:00AA",
                             lease=("feedback_poller", epoch))
    assert store.get_watermark("feedback:00AA") == T0


def test_a_lease_whose_holder_stopped_renewing_is_taken_over(store: Store,
                                                             other: Store) -> None:
    assert store.take_lease("feedback_poller", seconds=0.001) == 1
    with store._db.write("test") as conn:       # its holder died: the lease ran out
        conn.execute(t.leases.update().values(expires_at=T0))
    assert store.lease_holder("feedback_poller") is None
    assert other.take_lease("feedback_poller", seconds=30) == 2
    assert store.take_lease("feedback_poller", seconds=30) is None


def test_a_second_daemon_on_one_sqlite_file_is_refused(tmp_path: object,
                                                       store_cipher: Cipher,
                                                       student_secret: StudentKeySecret) -> None:
    url = f"sqlite:///{tmp_path}/one.db"
    first = Store.open(url, cipher=store_cipher, student_secret=student_secret)
    second = Store.open(url, cipher=store_cipher, student_secret=student_secret)
    try:
        first.hold_for_daemon()
        with pytest.raises(ConfigError, match="another adapter daemon already runs"):
            second.hold_for_daemon()
        first.close()                       # the lock goes with its holder
        second.hold_for_daemon()
    finally:
        first.close()
        second.close()


def test_replicas_starting_together_get_one_holder(store: Store, other: Store,
                                                   store_url: str, store_cipher: Cipher,
                                                   student_secret: StudentKeySecret) -> None:
    third = Store.open(store_url, cipher=store_cipher, student_secret=student_secret)
    try:
        for _ in range(5):
            with store._db.write("test") as conn:
                conn.execute(t.leases.delete())
            replicas = (store, other, third)
            results: list[int | None] = [None] * 3
            start = threading.Barrier(3)

            def take(n: int) -> None:
                start.wait()
                results[n] = replicas[n].take_lease("feedback_poller", seconds=30)

            threads = [threading.Thread(target=take, args=(n,)) for n in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert sorted(results, key=lambda r: r is None) [1:] == [None, None], results
            assert results.count(1) == 1
    finally:
        third.close()
