"""DUO's schoning: DUO forgets old reports; the adapter keeps them and says DUO forgot.

Against the real daemon and simulator: after ``POST /control/schoning`` a change of
a registered report is answered VZ901 (unknown report). The report stays
``registered`` (never withdrawn), keeps its evidence, and ``meldingen list --json``
and ``meldingen show`` say when DUO forgot it.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapter.cli import cli
from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export

from .conftest import control, wait_for
from .records import encode, record

pytestmark = pytest.mark.timeout(90)


def test_after_duos_schoning_the_report_is_kept_and_marked(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap,
        tmp_path: Path) -> None:
    rec = record(random.Random(11), soort="LRV", source_id="VM-SCHONING-1")
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    registered = wait_for(lambda: tap.of("registered"), what="registered")[0]
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert control(simulator, "schoning", {"before": tomorrow}) == {"forgotten": 1}
    # The SIS adds an einddatum: the wijzigen reaches a DUO that no longer knows the report.
    amended = dict(rec, einddatum=(date.fromisoformat(rec["begindatum"]) + timedelta(days=9))
                   .isoformat(), modified_at="2025-11-20T10:00:00Z")
    publish_export(settings.amqp, body=encode(amended), vendor="canonical")
    rejected = wait_for(lambda: tap.of("rejected"), what="wijzigen refused")[0]
    assert [e["code"] for e in rejected["errors"]] == ["VZ901"]
    [summary] = daemon.store.list_reports()
    assert (summary.state, summary.meldingsnummer) == ("registered", registered["meldingsnummer"])
    assert summary.duo_purged_at is not None
    assert daemon.store.exchanges_for(summary.report_id)        # the evidence is kept
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\nurl = "{settings.store.url}"\n')
    listed = CliRunner().invoke(cli, ["meldingen", "list", "--json", "--config", str(config)])
    [row] = json.loads(listed.output[listed.output.index("[\n"):])
    assert row["state"] == "registered" and row["purged_at_duo"]
    shown = CliRunner().invoke(cli, ["meldingen", "show", str(summary.report_id),
                                     "--config", str(config)])
    assert "purged_at_duo" in shown.output and "duo_purged_at" in shown.output
