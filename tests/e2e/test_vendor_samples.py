"""Vendor samples through the real broker, daemon and simulator (issue step 3, done-when)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import ROOT, control, make_settings, wait_for

EDUARTE = ROOT / "plugins" / "eduarte" / "samples"
MAGISTER = ROOT / "plugins" / "magister" / "samples"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def quiet_simulator(pki_dir: Path) -> Iterator[SimulatorServer]:
    sim = SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                          delay_afgesloten=None, rod_file=EDUARTE / "rod.json")
    # Both vendors' samples are sent here: DUO's registry knows both schools' students
    # (a loaded ROD refuses students it does not know).
    sim.load_rod(MAGISTER / "rod.json")
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture()
def running(pki_dir: Path, vhost: str, quiet_simulator: SimulatorServer,
            tmp_path: Path) -> Iterator[tuple[Settings, Daemon]]:
    settings = make_settings(pki_dir, vhost, quiet_simulator.soap_url, tmp_path / "s.db")
    daemon = Daemon(settings)
    daemon.start()
    wait_for(lambda: daemon.amqp_connected, what="daemon connected")
    yield settings, daemon
    daemon.stop(timeout=20)


def publish(settings: Settings, vendor: str, path: Path, **kw: str) -> None:
    content_type = "application/json" if path.suffix == ".json" else "text/csv"
    publish_export(settings.amqp, body=path.read_bytes(), vendor=vendor,
                   content_type=content_type, **kw)


def days_of(entry: dict) -> list[tuple[str, object]]:
    """The verzuimdagspecificatie as the simulator received it."""
    days = entry["melding"].get("verzuimdagen") or []
    return [(d["datum"], "hele dag" if d.get("hele_dag") else tuple(d.get("lesuren", ())))
            for d in days]


def test_eduarte_v3_dagspecificatie_lists_exactly_the_unauthorised_lessons(
        running: tuple[Settings, Daemon], quiet_simulator: SimulatorServer) -> None:
    settings, daemon = running
    publish(settings, "eduarte", EDUARTE / "02-registraties-v3-oktober.csv")
    publish(settings, "eduarte", EDUARTE / "03-melding-v3.csv")
    [entry] = wait_for(lambda: control(quiet_simulator, "meldingen"), what="report at DUO")
    assert days_of(entry) == [
        ("2025-10-13", (1, 2)), ("2025-10-14", "hele dag"), ("2025-10-15", "hele dag"),
        ("2025-10-16", (5, 6)), ("2025-10-27", (1, 2, 3, 4, 6))]


def test_each_sample_twice_equals_once_at_duo(running: tuple[Settings, Daemon],
                                              quiet_simulator: SimulatorServer) -> None:
    settings, daemon = running
    files = [("eduarte", p) for p in sorted(EDUARTE.glob("0*.csv"))] + \
            [("magister", p) for p in sorted(MAGISTER.glob("0*.json"))]
    for round_ in range(2):
        for vendor, path in files:
            message_id = f"{round_}-{vendor}-{path.name}"
            publish(settings, vendor, path, message_id=message_id)
            wait_for(lambda: _accepted(daemon, message_id) and _settled(daemon),
                     what=f"{path.name} settled", timeout=30)
        if round_ == 0:
            first = control(quiet_simulator, "ledger")
            reports_first = len(control(quiet_simulator, "meldingen"))
    assert control(quiet_simulator, "ledger") == first
    assert set(first.values()) == {1}
    assert len(control(quiet_simulator, "meldingen")) == reports_first


def _accepted(daemon: Daemon, message_id: str) -> bool:
    from adapter.store import schema as t
    with daemon.store.database.read("test") as conn:  # white-box: the inbox row
        return conn.execute(t.inbox_messages.select().where(
            t.inbox_messages.c.message_id == message_id)).first() is not None


def _settled(daemon: Daemon) -> bool:
    subs = daemon.store.counts()["submissions"]
    return not any(subs.get(s, 0) for s in ("pending", "submitting", "unknown"))


def test_corrupted_copies_are_processed_except_the_bad_rows(
        running: tuple[Settings, Daemon], quiet_simulator: SimulatorServer, tmp_path: Path) -> None:
    """Each bad row is named in a `rejected` event (position, field, rule; no value);
    the rest of the export goes through. Events arrive in each vendor's own shape;
    their canonical content is read back from the store by message_id."""
    import copy
    import json

    import pika

    from adapter.sis import connection_parameters, declare_event_tap
    settings, daemon = running
    conn = pika.BlockingConnection(connection_parameters(settings.amqp))
    channel = conn.channel()
    declare_event_tap(channel, settings.amqp, "test.raw-tap")
    seen: list[tuple[str, bytes, object]] = []

    def drain() -> list[tuple[str, bytes, object]]:
        while True:
            method, props, body = channel.basic_get("test.raw-tap", auto_ack=True)
            if method is None:
                return seen
            seen.append((method.routing_key, body, daemon.store.event(props.message_id)))

    try:
        corrupt_csv = ROOT / "plugins" / "eduarte" / "tests" / "data" / "corrupt-meldingen.csv"
        publish(settings, "eduarte", corrupt_csv)
        doc = json.loads((MAGISTER / "01-export-oktober.json").read_text(encoding="utf-8"))
        bad = copy.deepcopy(doc)
        bad["Items"][0]["Start"] = "2025-02-31T07:30:00Z"       # impossible date
        bad["Items"][1]["Code"] = "QQ"                           # unknown code
        del bad["Items"][2]["Afspraak"]                          # a "short row"
        corrupted = tmp_path / "corrupt-magister.json"
        corrupted.write_text(json.dumps(bad), encoding="utf-8")
        publish(settings, "magister", corrupted)
        wait_for(lambda: sum(rk.endswith(".rejected") for rk, _, _ in drain()) >= 6,
                 what="six rejected events")
        wait_for(lambda: sum(rk.endswith(".registered") for rk, _, _ in drain()) >= 2,
                 what="the good rows registered")
    finally:
        conn.close()
    rejected = [(rk, body, event) for rk, body, event in seen if rk.endswith(".rejected")]
    positions = {event.data["position"] for _, _, event in rejected}   # type: ignore[union-attr]
    assert {"$.Items[0]", "$.Items[1]", "$.Items[2]"} <= positions
    assert sum(p.startswith("row ") for p in positions) == 3
    for rk, body, event in rejected:
        assert event.data["errors"] and all(e["field"] and e["rule"]   # type: ignore[union-attr]
                                            for e in event.data["errors"])
        for value in ("QQ", "02-31", "31-02-2025", "999973113", "Zwaluwplein"):
            assert value.encode() not in body, f"{rk} carries a value"
