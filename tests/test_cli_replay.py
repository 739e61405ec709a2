"""``replay --state failed``: listing, confirmation and the store's move (no broker)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from adapter.cli import cli
from adapter.store import IncomingReport, Store
from adapter.testing import make_melding


def _failed(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{db}")
    store.accept(message_id="m1", vendor="canonical", routing_key="canonical.export",
                 items=[IncomingReport(vendor="canonical", melding=make_melding())])
    [claim] = store.claim_due(limit=1)
    store.mark_failed(claim.submission_id, reason="gave up: duo_http_503")
    store.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n')
    return cfg, claim.document_id


def _state(tmp_path: Path) -> tuple[str, str, int]:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        detail = store.report_detail(1)
    finally:
        store.close()
    assert detail is not None
    [sub] = detail["submissions"]
    return detail["report"]["state"], sub["state"], sub["attempts"]


def test_replay_shows_the_failure_and_asks(tmp_path: Path) -> None:
    cfg, document_id = _failed(tmp_path)
    runner = CliRunner()
    declined = runner.invoke(cli, ["--config", str(cfg), "replay"], input="n\n")
    assert declined.exit_code == 0, declined.output
    assert document_id in declined.output and "gave up: duo_http_503" in declined.output
    assert "Resend 1 failed submission" in declined.output
    assert "nothing resent" in declined.output and _state(tmp_path)[:2] == ("failed", "failed")
    assert "Test Melder" not in declined.output
    accepted = runner.invoke(cli, ["--config", str(cfg), "replay", "--id", "1"], input="y\n")
    assert accepted.exit_code == 0 and "1 resent, 0 skipped" in accepted.output
    assert _state(tmp_path) == ("queued", "pending", 0)
    again = runner.invoke(cli, ["--config", str(cfg), "replay", "--yes"])
    assert again.exit_code == 0 and "no failed submissions" in again.output


def test_replay_id_must_be_a_report_id_for_failed(tmp_path: Path) -> None:
    cfg, _ = _failed(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "replay", "--id", "abc"])
    assert result.exit_code == 2 and "report id" in result.output
    other = CliRunner().invoke(cli, ["--config", str(cfg), "replay", "--id", "7", "--yes"])
    assert other.exit_code == 0 and "no failed submissions for report 7" in other.output
