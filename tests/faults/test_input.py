"""Fault matrix rows 12–14: what the SIS sends is bad, poisonous or repeated; the daemon
runs in this process."""

from __future__ import annotations

import json
from typing import Any

from e2e.records import encode

from adapter.pipeline.daemon import Daemon
from adapter.sis import publish_export
from adapter.sis.delivery import Delivery, Disposition

from .conftest import Rig, dead_letters, wait_for


def reasons(rig: Rig) -> dict[str, str]:
    out = {}
    for mid, headers in dead_letters(rig.direct):
        reason = headers.get("x-verzuim-reason") or headers.get("x-first-death-reason") or ""
        out[str(mid)] = reason.decode() if isinstance(reason, bytes) else str(reason)
    return out


def test_row12_malformed_input_is_dead_lettered_with_a_reason(rig: Rig) -> None:
    """Non-JSON, an unknown vendor and an oversize body each go to the dead queue once, with
    the reason in a header, without a DUO call; a schema-invalid record is refused at
    intake (a ``rejected`` event, no DUO call); good records beside them are registered
    once."""
    rig.amqp = {"max_body_bytes": 4096}
    rig.start()
    bad = {
        rig.publish_body(b"{not json", [], dead=True): "DecodeError",
        rig.publish_body(b"x" * 5000, [], dead=True): "max_body_bytes",
    }
    unknown = publish_export(rig.direct.amqp, body=encode(rig.new_record()), vendor="nobody")
    rig.message_ids[unknown] = []
    bad[unknown] = "no vendor plugin"
    invalid = {"source_id": "invalid-1", "brin": "00AA", "student": {}}
    rig.publish_body(json.dumps(invalid).encode(), [invalid])
    rig.publish(3)
    try:
        rig.settle(dead=len(bad))
    except AssertionError:
        print(reasons(rig), [(e["event"], e.get("reason")) for e in rig.logs])
        raise
    verdict = rig.verdict()
    verdict.assert_clean()
    assert verdict.rejected == {"invalid-1"}
    got = reasons(rig)
    assert set(got) == set(bad), got
    for mid, word in bad.items():
        assert got[mid] and word in got[mid], (mid, got[mid])


def test_row13_poison_messages_go_to_the_dead_queue_and_spare_their_neighbours(
        rig: Rig) -> None:
    """One payload makes the vendor plugin raise (dead-lettered at once, with the reason);
    another crashes the handler every time (nacked, counted by the quorum queue, moved to
    the dead queue past ``x-delivery-limit``). Prefetch > 1: the records around them are
    registered once each, and the crash loop is bounded."""
    rig.amqp = {"delivery_limit": 3, "prefetch": 50}
    crashes: list[str] = []

    def prepare(daemon: Daemon) -> None:
        vendor = daemon.vendors.get("canonical")
        original = vendor.to_duo

        def to_duo(record: Any, *args: Any, **kwargs: Any) -> Any:
            if "poison-plugin" in json.dumps(record, default=str):
                raise ValueError("plugin bug")
            return original(record, *args, **kwargs)
        vendor.to_duo = to_duo  # type: ignore[method-assign]
        handle = daemon.consumer._handle

        def crashing(delivery: Delivery) -> Disposition:
            if b"poison-crash" in delivery.body:
                crashes.append(delivery.message_id or "")
                raise RuntimeError("handler crash")
            return handle(delivery)
        daemon.consumer._handle = crashing
        many = daemon.consumer._handle_many
        assert many is not None

        def handle_many(batch: list[Delivery]) -> list[Disposition]:
            # A batch with the crashing message goes one by one, through ``crashing``: a
            # redelivery that arrived with others must crash again, as the real fault would.
            if any(b"poison-crash" in delivery.body for delivery in batch):
                return []
            return many(batch)
        daemon.consumer._handle_many = handle_many

    rig.publish(3)
    plugin = rig.publish_body(encode(rig.new_record(source_id="poison-plugin-1")), [],
                              dead=True)
    crash = rig.publish_body(encode(rig.new_record(source_id="poison-crash-1")), [], dead=True)
    rig.publish(3)
    rig.start(prepare=prepare)
    rig.settle(dead=2, timeout=40)
    rig.verdict().assert_clean()
    got = reasons(rig)
    assert "plugin" in got[plugin]
    assert got[crash] == "delivery_limit"
    assert 3 <= len(crashes) <= 4


def test_row14_duplicate_deliveries_make_one_report(rig: Rig) -> None:
    """The same record published twice (different message ids) and the same message twice
    (same message id): one inbox row per record, DUO's ledger at 1, every delivery acked."""
    rig.start()
    rec = rig.new_record()
    rig.publish_body(encode(rec), [rec])
    rig.publish_body(encode(rec), [rec])
    other = rig.new_record()
    mid = rig.publish_body(encode(other), [other])
    rig.publish_body(encode(other), [other], message_id=mid)
    rig.settle()
    wait_for(lambda: sum(1 for e in rig.logs if e["event"] == "message_accepted") >= 4,
             what="all four deliveries handled", timeout=15)
    rig.verdict().assert_clean()
    from .test_soap import inbox_depth
    assert inbox_depth(rig) == 0
