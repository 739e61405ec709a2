"""``replay`` and ``incident`` against the real daemon, broker and simulator over TLS:
a failed report is resent with its own document id and registered once; a report DUO
already had is not doubled; dead letters go back to the SIS exchange as they came."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from adapter.cli import cli
from adapter.config import Settings
from adapter.pipeline.daemon import Daemon
from adapter.simulator.server import SimulatorServer
from adapter.sis import publish_export
from adapter.store import schema as t
from adapter.vendors import load_vendors

from .conftest import control, dead_letters, make_settings, wait_for
from .records import encode, record

pytestmark = pytest.mark.timeout(120)


def run_cli(settings: Settings, *args: str, answer: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), obj={"settings": settings}, input=answer)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture()
def settings(pki_dir: Path, vhost: str, simulator: SimulatorServer, tmp_path: Path) -> Settings:
    return make_settings(pki_dir, vhost, simulator.soap_url, tmp_path / "store.db",
                         max_attempts=2)


def _started(d: Daemon) -> Daemon:
    d.start()
    wait_for(lambda: d.amqp_connected, what="daemon connected to the broker")
    return d


def _state(daemon: Daemon, source_id: str) -> str | None:
    found = [r for r in daemon.store.list_reports() if r.source_id == source_id]
    return found[0].state if found else None


def test_failed_report_is_replayed_with_its_document_id_and_registered_once(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap) -> None:
    control(simulator, "faults", {"mode": "http_503", "count": 2,
                                  "operation": "aanleverenVerzuimmelding"})
    rec = record(random.Random(31))
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    [failed] = wait_for(lambda: tap.of("failed"), what="failed after duo.max_attempts")
    assert failed["attempts"] == 2 and _state(daemon, rec["source_id"]) == "failed"
    assert control(simulator, "ledger") == {}
    [report] = [r for r in daemon.store.list_reports() if r.source_id == rec["source_id"]]
    document_id = daemon.store.report_detail(report.report_id)["submissions"][0]["document_id"]

    declined = run_cli(settings, "replay", answer="n\n")
    assert declined.exit_code == 0 and "nothing resent" in declined.output
    # The original failure is shown before the question: class, code, attempts.
    assert "transient" in declined.output and "503" in declined.output
    assert document_id in declined.output and _state(daemon, rec["source_id"]) == "failed"

    done = run_cli(settings, "replay", "--id", str(report.report_id), "--yes")
    assert done.exit_code == 0 and "1 resent" in done.output, done.output
    [registered] = wait_for(lambda: tap.of("registered"), what="registered after replay")
    assert registered["business_document_id"] == document_id
    assert control(simulator, "ledger") == {document_id: 1}
    assert "replay: no failed submissions" in run_cli(settings, "replay", "--yes").output

    # incident: the stored failed exchange, its wsa:MessageID, no personal values.
    incident = run_cli(settings, "incident", str(report.report_id))
    assert incident.exit_code == 0, incident.output
    failed_exchange = [x for x in daemon.store.exchanges_for(report.report_id)
                       if x.outcome != "ok"][-1]   # the latest that went wrong
    from adapter.commands.incident import request_message_id
    message_id = request_message_id(failed_exchange.request_xml)
    assert message_id and message_id in incident.output and "503" in incident.output
    for personal in (rec["student"]["bsn"], rec["student"]["achternaam"], rec["melder"]["naam"],
                     rec["melder"]["emailadres"], rec["vermoedelijke_reden"]):
        assert personal not in incident.output


def test_replaying_a_report_duo_already_has_does_not_double_it(
        daemon: Daemon, settings: Settings, simulator: SimulatorServer, tap) -> None:
    rec = record(random.Random(32))
    publish_export(settings.amqp, body=encode(rec), vendor="canonical")
    [registered] = wait_for(lambda: tap.of("registered"), what="registered")
    document_id = registered["business_document_id"]
    # As if the answer had been lost for good: the store says failed, DUO has it.
    with daemon.store.database.engine.begin() as conn:
        conn.execute(t.submissions.update().values(state="failed", attempts=2))
        conn.execute(t.reports.update().values(state="failed", meldingsnummer=None,
                                               duo_status=None))
    done = run_cli(settings, "replay", "--yes")
    assert done.exit_code == 0 and "1 resent" in done.output, done.output
    wait_for(lambda: _state(daemon, rec["source_id"]) == "registered",
             what="reconciled as registered")
    assert control(simulator, "ledger") == {document_id: 1}
    assert len(control(simulator, "meldingen")) == 1
    [report] = daemon.store.list_reports()
    assert report.meldingsnummer == registered["meldingsnummer"]


def _dead_ids(settings: Settings) -> list[str | None]:
    return [mid for mid, _ in dead_letters(settings)]


def test_dead_letter_replayed_after_the_vendor_is_installed(
        settings: Settings, simulator: SimulatorServer, tap) -> None:
    without = _started(Daemon(settings, vendors=load_vendors(enabled=["eduarte", "magister"])))
    try:
        rec = record(random.Random(33))
        publish_export(settings.amqp, body=encode(rec), vendor="canonical", message_id="dl-1",
                       headers={"x-sis-batch": "7"})
        wait_for(lambda: _dead_ids(settings) == ["dl-1"], what="dead-lettered")
    finally:
        without.stop(timeout=20)
    [(_, headers)] = dead_letters(settings)
    assert "no vendor plugin" in str(headers["x-verzuim-reason"])

    listed = run_cli(settings, "replay", "--state", "dead", answer="n\n")
    assert "dl-1" in listed.output and "canonical.export" in listed.output
    assert "no vendor plugin" in listed.output and _dead_ids(settings) == ["dl-1"]

    daemon = _started(Daemon(settings))
    try:
        done = run_cli(settings, "replay", "--state", "dead", "--id", "dl-1", "--yes")
        assert done.exit_code == 0 and "1 moved" in done.output, done.output
        wait_for(lambda: tap.of("registered"), what="registered after the replay")
        assert _dead_ids(settings) == []
        assert len(control(simulator, "ledger")) == 1
    finally:
        daemon.stop(timeout=20)


def test_malformed_dead_letter_replayed_is_dead_again_once(
        daemon: Daemon, settings: Settings) -> None:
    publish_export(settings.amqp, body=b"{not json", vendor="canonical", message_id="bad-1",
                   content_type="application/json", headers={"x-sis-batch": "8"})
    wait_for(lambda: _dead_ids(settings) == ["bad-1"], what="dead-lettered")
    done = run_cli(settings, "replay", "--state", "dead", "--yes")
    assert done.exit_code == 0 and "1 moved" in done.output, done.output
    wait_for(lambda: _dead_ids(settings) == ["bad-1"], what="dead-lettered again")
    [(_, headers)] = dead_letters(settings)
    # It came back as the SIS sent it: its own header, the original routing key.
    assert headers["x-sis-batch"] == "8"
    assert headers["x-verzuim-routing-key"] == "canonical.export"
    assert "x-death" not in headers
    nothing = run_cli(settings, "replay", "--state", "dead", "--id", "other", "--yes")
    assert "no dead letters" in nothing.output
    # status sees the dead letter through the broker, and DUO (the simulator) over TLS.
    table = run_cli(settings, "status")
    assert "dead letters     1 (verzuim.adapter.dead)" in table.output, table.output
    assert ": reachable - TLS handshake ok" in table.output
    assert "last poll" in table.output and "opvragenGewijzigde" not in table.output.split(
        "last poll", 1)[1].splitlines()[0]
