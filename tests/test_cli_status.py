"""``status`` (table and --json) and ``meldingen list`` filters, on a SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from adapter.cli import cli
from adapter.domain.model import Verzuimsoort
from adapter.store import ExchangeRecord, IncomingReport, Store
from adapter.testing import make_melding


def _store(tmp_path: Path, pki_dir: Path, *, duo_url: str = "https://127.0.0.1:1/verzuim",
           amqp_url: str = "amqp://guest:guest@127.0.0.1:1/%2F") -> Path:
    db = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{db}")
    old = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    store.accept(message_id="m1", vendor="canonical", routing_key="canonical.export",
                 items=[IncomingReport(vendor="canonical", melding=make_melding())], now=old)
    store.accept(message_id="m2", vendor="canonical", routing_key="canonical.export",
                 items=[IncomingReport(vendor="canonical", melding=make_melding(
                     source_id="test-2", brin="01BB", verzuimsoort=Verzuimsoort.LRV,
                     einddatum=None))])
    [claim, _] = store.claim_due(limit=2)
    store.record_exchange(ExchangeRecord(
        operation="aanleverenVerzuimmelding", document_id=claim.document_id, message_id="x",
        request_xml=b"<r/>", response_xml=None, http_status=503, outcome="transient",
        started_at=old, duration_ms=5, submission_id=claim.submission_id))
    store.record_exchange(ExchangeRecord(
        operation="opvragenGewijzigdeVerzuimmeldingen", document_id=None, message_id="y",
        request_xml=b"<r/>", response_xml=b"<a/>", http_status=200, outcome="ok",
        started_at=datetime.now(UTC) - timedelta(seconds=30), duration_ms=5))
    store.mark_registered(claim.submission_id, meldingsnummer="N1", status="B",
                          laatste_mutatie=old)
    store.apply_feedback([], watermark=datetime.now(UTC) - timedelta(minutes=5),
                         name="feedback:00AA")
    store.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n[amqp]\nurl = "{amqp_url}"\n'
                   f'connect_timeout = 1\n[duo]\nurl = "{duo_url}"\n'
                   f'ca_bundle = "{pki_dir / "trust-bundle.pem"}"\n'
                   f'client_cert = "{pki_dir / "school.pem"}"\n'
                   f'client_key = "{pki_dir / "school-key.pem"}"\n')
    return cfg


def _json(output: str) -> Any:
    """The JSON document of a command's output (CliRunner mixes in a store log line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line[:1] in ("{", "["))
    return json.loads("\n".join(lines[start:]))


def test_status_table_and_json(tmp_path: Path, pki_dir: Path) -> None:
    cfg = _store(tmp_path, pki_dir)
    runner = CliRunner()
    table = runner.invoke(cli, ["--config", str(cfg), "status"])
    assert table.exit_code == 0, table.output
    out = table.output
    assert "registered" in out and "queued" in out and "days left" in out
    assert "UNREACHABLE" in out and "ConnectionRefusedError" in out
    assert "transient HTTP 503 (aanleverenVerzuimmelding" in out      # the last error
    assert "dead letters     unknown" in out                          # no broker on port 1
    assert "watermark 00AA" in out and "lag 5m" in out
    assert "open signals     none" in out and "ago" in out
    info = _json(runner.invoke(cli, ["--config", str(cfg), "status", "--json"]).output)
    assert info["store"]["reports"] == {"queued": 1, "registered": 1}
    assert info["duo"]["reachable"] is False and info["dead_letters"] is None
    assert info["duo"]["last_error"]["outcome"] == "transient"
    assert info["last_poll"]["outcome"] == "ok" and 25 <= info["last_poll"]["lag_seconds"] < 600
    assert info["oldest_pending_age_seconds"] >= 0 and info["certificate_days_left"] > 300
    assert {"store", "oldest_pending", "last_poll_watermark", "certificate_days_left",
            "duo_url"} <= set(info)                                    # the keys of before
    offline = _json(runner.invoke(cli, ["--config", str(cfg), "status", "--json",
                                        "--offline"]).output)
    assert offline["duo"]["reachable"] is None and offline["dead_letters"] is None


def test_status_sees_a_listening_tls_server_and_the_broker(tmp_path: Path, pki_dir: Path) -> None:
    from adapter.simulator.server import SimulatorServer
    sim = SimulatorServer(pki_dir, port=0, control_port=0)
    sim.start()
    try:
        cfg = _store(tmp_path, pki_dir, duo_url=sim.soap_url,
                     amqp_url="amqp://guest:guest@127.0.0.1:5672/%2F")
        info = _json(CliRunner().invoke(cli, ["--config", str(cfg), "status", "--json"]).output)
    finally:
        sim.stop()
    assert info["duo"]["reachable"] is True and "TLS" in info["duo"]["detail"]
    # The default vhost may or may not have the dead queue: a number, or unknown.
    assert info["dead_letters"] is None or isinstance(info["dead_letters"], int)


def test_meldingen_list_filters(tmp_path: Path, pki_dir: Path) -> None:
    cfg = _store(tmp_path, pki_dir)
    runner = CliRunner()

    def ids(*args: str) -> list[str]:
        result = runner.invoke(cli, ["--config", str(cfg), "meldingen", "list", "--json", *args])
        assert result.exit_code == 0, result.output
        return [r["source_id"] for r in _json(result.output)]

    assert ids() == ["test-2", "test-1"]
    assert ids("--state", "registered") == ["test-1"]
    assert ids("--status", "B") == ["test-1"] and ids("--status", "G") == []
    assert ids("--brin", "01bb") == ["test-2"]
    assert ids("--soort", "lrv") == ["test-2"]
    assert ids("--since", "2026-01-06") == ["test-2"]
    assert ids("--since", "2026-01-01", "--brin", "00AA", "--state", "registered") == ["test-1"]
    [row] = _json(runner.invoke(cli, ["--config", str(cfg), "meldingen", "list", "--json",
                                      "--brin", "00AA"]).output)
    assert set(row) == {"id", "source_id", "vendor", "brin", "state", "meldingsnummer",
                        "duo_status", "verzuimsoort", "created_at", "updated_at", "origin",
                        "purged_at_duo"}
    bad = runner.invoke(cli, ["--config", str(cfg), "meldingen", "list", "--status", "X"])
    assert bad.exit_code == 2
