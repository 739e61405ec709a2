"""Vendor samples through the real broker, daemon and simulator (issue step 3, done-when)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.config import Settings
from adapter.daemon import Daemon
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
