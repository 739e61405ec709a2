"""Follow-ups name DUO's number: ``vervolg_op`` (the SIS's id) resolved before sending.

Against the real broker and the real simulator, which refuses a follow-up that
names a report it never issued to this school and student (VZ905). Before the
adapter resolved ``vervolg_op``, it sent the SIS's own id: an Eduarte-style id
failed DUO's schema and a digit-only one was a number DUO never issued.
"""

from __future__ import annotations

import random
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapter.cli import cli
from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import control, wait_for
from .records import encode, make_bsn, record

pytestmark = pytest.mark.timeout(90)

BEGIN = date(2025, 11, 3)


@pytest.fixture()
def rng() -> random.Random:
    return random.Random(20261205)


def earlier_and_follow_up(rng: random.Random, *, earlier_id: str, follow_id: str,
                          vervolg_op: str | None = None, other_student: bool = False
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
    bsn = make_bsn(rng)
    first = record(rng, soort="V3", bsn=bsn, source_id=earlier_id)
    first.update(begindatum=BEGIN.isoformat(), einddatum=(BEGIN + timedelta(days=11)).isoformat(),
                 verzuimdagen=[{"datum": BEGIN.isoformat(), "hele_dag": True}])
    later = BEGIN + timedelta(days=14)
    follow = record(rng, soort="V3", bsn=make_bsn(rng) if other_student else bsn,
                    source_id=follow_id, vervolg_op=vervolg_op or earlier_id)
    follow.update(begindatum=later.isoformat(), einddatum=(later + timedelta(days=4)).isoformat(),
                  verzuimdagen=[{"datum": later.isoformat(), "hele_dag": True}])
    return first, follow


def by_source(events: list[dict[str, Any]], source_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["source_id"] == source_id]


def held_by_number(sim: SimulatorServer) -> dict[str, dict[str, Any]]:
    return {m["meldingsnummer"]: m for m in control(sim, "meldingen")}


def test_follow_up_is_sent_with_duos_number_of_the_earlier_report(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, rng) -> None:
    first, follow = earlier_and_follow_up(rng, earlier_id="VM-2025-0001", follow_id="VM-2025-0002")
    publish_export(settings.amqp, body=encode(first), vendor="canonical")
    nummer = wait_for(lambda: by_source(tap.of("registered"), "VM-2025-0001"),
                      what="earlier registered")[0]["meldingsnummer"]
    publish_export(settings.amqp, body=encode(follow), vendor="canonical")
    second = wait_for(lambda: by_source(tap.of("registered"), "VM-2025-0002"),
                      what="follow-up registered")[0]
    assert nummer != "VM-2025-0001"
    held = held_by_number(simulator)
    assert held[second["meldingsnummer"]]["melding"]["vervolg_op"] == nummer
    assert not tap.of("rejected")


def test_digit_only_sis_ids_are_resolved_too(daemon: Daemon, settings: Settings,
                                             simulator: SimulatorServer, tap, rng) -> None:
    """Magister-style ids are digits: sending one unresolved looks like a DUO number."""
    first, follow = earlier_and_follow_up(rng, earlier_id="880301", follow_id="880302")
    publish_export(settings.amqp, body=encode(first), vendor="canonical")
    nummer = wait_for(lambda: by_source(tap.of("registered"), "880301"),
                      what="earlier registered")[0]["meldingsnummer"]
    publish_export(settings.amqp, body=encode(follow), vendor="canonical")
    second = wait_for(lambda: by_source(tap.of("registered"), "880302"),
                      what="follow-up registered")[0]
    assert held_by_number(simulator)[second["meldingsnummer"]]["melding"]["vervolg_op"] == nummer


def test_follow_up_before_its_earlier_report_in_one_export_waits_for_it(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, rng) -> None:
    first, follow = earlier_and_follow_up(rng, earlier_id="VM-A", follow_id="VM-B")
    publish_export(settings.amqp, body=encode(follow, first), vendor="canonical")
    registered = wait_for(lambda: len(tap.of("registered")) >= 2 and tap.of("registered"),
                          what="both registered")
    nummer = by_source(registered, "VM-A")[0]["meldingsnummer"]
    second = by_source(registered, "VM-B")[0]
    assert held_by_number(simulator)[second["meldingsnummer"]]["melding"]["vervolg_op"] == nummer
    assert not tap.of("rejected")
    assert len(control(simulator, "ledger")) == 2       # each sent once, nothing else


@pytest.mark.parametrize("case, code", [("unknown", "AD020"), ("other-student", "AD021")])
def test_follow_up_of_an_unknown_or_foreign_report_is_rejected_unsent(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, rng,
        case: str, code: str) -> None:
    first, follow = earlier_and_follow_up(
        rng, earlier_id="VM-C", follow_id="VM-D", other_student=case == "other-student",
        vervolg_op="VM-NOT-THERE" if case == "unknown" else None)
    publish_export(settings.amqp, body=encode(first), vendor="canonical")
    wait_for(lambda: by_source(tap.of("registered"), "VM-C"), what="earlier registered")
    publish_export(settings.amqp, body=encode(follow), vendor="canonical")
    rejected = wait_for(lambda: by_source(tap.of("rejected"), "VM-D"), what="rejected")[0]
    assert [e["code"] for e in rejected["errors"]] == [code]
    assert "VM-NOT-THERE" not in str(rejected)              # the value is never echoed
    assert len(control(simulator, "ledger")) == 1          # only the earlier report
    states = {r.source_id: r.state for r in daemon.store.list_reports()}
    assert states == {"VM-C": "registered", "VM-D": "rejected"}


def test_follow_up_of_a_withdrawn_report_is_rejected_unsent(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, rng) -> None:
    first, follow = earlier_and_follow_up(rng, earlier_id="VM-E", follow_id="VM-F")
    publish_export(settings.amqp, body=encode(first), vendor="canonical")
    wait_for(lambda: by_source(tap.of("registered"), "VM-E"), what="earlier registered")
    withdrawn = dict(first, deleted=True, modified_at="2025-11-20T10:00:00Z")
    publish_export(settings.amqp, body=encode(withdrawn), vendor="canonical")
    wait_for(lambda: [e for e in by_source(tap.of("registered"), "VM-E")
                      if e["operation"] == "intrekken"], what="earlier withdrawn")
    publish_export(settings.amqp, body=encode(follow), vendor="canonical")
    rejected = wait_for(lambda: by_source(tap.of("rejected"), "VM-F"), what="rejected")[0]
    assert [e["code"] for e in rejected["errors"]] == ["AD022"]
    time.sleep(0.5)
    assert len(control(simulator, "ledger")) == 2          # aanleveren + intrekken only


def cli_config(settings: Settings, tmp_path: Path) -> Path:
    """A configuration for the CLI naming the daemon's own store."""
    cfg = tmp_path / "cli.toml"
    cfg.write_text(f'[store]\nurl = "{settings.store.url}"\n[duo]\n'
                   f'client_cert = "{settings.duo.client_cert}"\n'
                   f'client_key = "{settings.duo.client_key}"\n')
    return cfg


def test_clone_of_a_registered_report_is_sent_as_its_follow_up(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, rng,
        tmp_path: Path) -> None:
    first, _ = earlier_and_follow_up(rng, earlier_id="VM-K1", follow_id="unused")
    publish_export(settings.amqp, body=encode(first), vendor="canonical")
    nummer = wait_for(lambda: by_source(tap.of("registered"), "VM-K1"),
                      what="earlier registered")[0]["meldingsnummer"]
    [report_id] = [r.report_id for r in daemon.store.list_reports() if r.source_id == "VM-K1"]
    cfg = cli_config(settings, tmp_path)
    end = BEGIN + timedelta(days=18)
    result = CliRunner().invoke(cli, ["meldingen", "clone", str(report_id),
                                      "--einddatum", end.isoformat(), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    new_id = int(result.output.strip().splitlines()[-1])
    second = wait_for(lambda: by_source(tap.of("registered"), "VM-K1/vervolg-1"),
                      what="clone registered")[0]
    held = held_by_number(simulator)[second["meldingsnummer"]]["melding"]
    assert held["vervolg_op"] == nummer
    assert (held["begindatum"], held["einddatum"]) == (
        (BEGIN + timedelta(days=12)).isoformat(), end.isoformat())
    assert held["student"]["bsn"] == first["student"]["bsn"]
    assert {r.report_id: r.state for r in daemon.store.list_reports()}[new_id] == "registered"
    assert not tap.of("rejected")


def test_follow_up_within_7_days_of_the_earlier_begindatum_is_rejected_unsent(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap, rng) -> None:
    first, follow = earlier_and_follow_up(rng, earlier_id="VM-G", follow_id="VM-H")
    soon = BEGIN + timedelta(days=3)
    follow.update(begindatum=soon.isoformat(), verzuimdagen=[
        {"datum": soon.isoformat(), "hele_dag": True}])
    publish_export(settings.amqp, body=encode(first), vendor="canonical")
    wait_for(lambda: by_source(tap.of("registered"), "VM-G"), what="earlier registered")
    publish_export(settings.amqp, body=encode(follow), vendor="canonical")
    rejected = wait_for(lambda: by_source(tap.of("rejected"), "VM-H"), what="rejected")[0]
    assert [e["code"] for e in rejected["errors"]] == ["AD023"]
    time.sleep(0.5)
    assert len(control(simulator, "ledger")) == 1          # only the earlier report
    states = {r.source_id: r.state for r in daemon.store.list_reports()}
    assert states == {"VM-G": "registered", "VM-H": "rejected"}
