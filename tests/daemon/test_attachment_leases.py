"""The attachment sender keeps its claims' leases and recovers a dead replica's
(adapter.pipeline.attachments), against a real SQLite store; DUO is the testing kit's
FakeDuo, slowed down."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from adapter.config import Settings
from adapter.pipeline.attachments import AttachmentSender
from adapter.store import Store
from adapter.store import schema as t
from adapter.testing import FakeDuo

from store.factories import accept, report
from store.test_bijlagen import LATER, attach


class SlowBijlagen(FakeDuo):
    """Each attachment call takes ``seconds``; notes whether its row was still claimed
    by ``store`` (lease running) when the call began."""

    def __init__(self, store: Store, seconds: float) -> None:
        super().__init__()
        self.store, self.seconds = store, seconds
        self.ours_at_call: list[bool] = []

    def aanleveren_bijlage(self, **kw: object) -> str | None:
        now = datetime.now(UTC)
        with self.store.database.engine.connect() as conn:
            row = conn.execute(sa.select(t.bijlagen.c.claimed_by, t.bijlagen.c.lease_until)
                               .where(t.bijlagen.c.document_id == kw["document_id"])).one()
        self.ours_at_call.append(row.claimed_by == self.store.replica
                                 and row.lease_until is not None and row.lease_until > now)
        time.sleep(self.seconds)
        return super().aanleveren_bijlage(**kw)  # type: ignore[arg-type]


def registered(store: Store, duo: FakeDuo, files: int) -> None:
    accept(store, "m-1", report("r1"))
    for n in range(files):
        attach(store, f"b-{n}")
    [claim] = store.claim_due(limit=1, now=LATER)
    result = duo.aanleveren(claim.melding, document_id=claim.document_id)
    store.mark_registered(claim.submission_id, meldingsnummer=result.meldingsnummer,
                          status=result.status, laatste_mutatie=result.laatste_mutatie)


def states(store: Store) -> list[str]:
    with store.database.engine.connect() as conn:
        return list(conn.execute(sa.select(t.bijlagen.c.state).order_by(t.bijlagen.c.id))
                    .scalars())


def test_a_batch_longer_than_the_lease_keeps_its_claims(settings: Settings,
                                                        store: Store) -> None:
    # three sends of 0.3 s against a lease of 0.45 s: the third would start after its
    # claim's lease ran out, were the rest of the batch not renewed on the way
    store.claim_lease = timedelta(seconds=0.45)
    duo = SlowBijlagen(store, 0.3)
    registered(store, duo, files=3)
    sender = AttachmentSender(settings.duo, store, duo)
    assert sender.send_due(limit=10) == 3
    assert duo.ours_at_call == [True, True, True]
    assert states(store) == ["sent", "sent", "sent"]


def test_the_sender_recovers_a_dead_replicas_attachment_and_leaves_a_live_ones(
        settings: Settings, store: Store) -> None:
    duo = SlowBijlagen(store, 0.0)
    registered(store, duo, files=2)
    other = Store.open(settings.store.url)        # another replica on the same file
    try:
        other.claim_lease = timedelta(hours=1)
        [live] = other.claim_bijlagen(limit=1, now=LATER)
        other.claim_lease = timedelta(seconds=0.1)
        [dead] = other.claim_bijlagen(limit=1, now=LATER)
    finally:
        other.close()
    time.sleep(0.2)                               # the second one's replica died
    sender = AttachmentSender(settings.duo, store, duo)
    # the loop's look every third of the lease (run() would first do the start-up
    # look, which on a SQLite store, one daemon's alone, takes every row)
    sender.recover_expired()
    assert states(store) == ["sending", "unknown"]
    assert sender.send_due(limit=5) == 1
    assert states(store) == ["sending", "sent"]
    assert len(duo.bijlagen) == 1                 # the dead replica's, sent here once
    assert live.bijlage != dead.bijlage
