"""Every command has --help; errors are one line, not a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from adapter.cli import cli
from adapter.config import StoreSettings
from adapter.store.keys import open_store


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
    return paths


@pytest.mark.parametrize("path", [(), *command_paths(cli)], ids=lambda p: " ".join(p) or "root")
def test_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) >= 3


def test_design_commands_exist() -> None:
    names = {" ".join(p) for p in command_paths(cli)}
    for expected in ("run", "simulator", "pki init-test", "cert check", "cert csr", "publish",
                     "status", "meldingen list", "meldingen show", "meldingen clone", "replay", "incident", "plugins"):
        assert expected in names


def test_bad_config_is_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[duo]\nread_timeout = -1\n")
    proc = subprocess.run([sys.executable, "-m", "adapter", "--config", str(cfg), "status"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "duo.read_timeout" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_config_file_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.toml"), "status"])
    assert result.exit_code == 2
    assert "config file not found" in result.output


def test_status_and_meldingen_read_the_store(tmp_path: Path, pki_dir: Path) -> None:
    from adapter.store import IncomingReport, Store
    from adapter.testing import make_melding
    db = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{db}")
    store.accept(message_id="m1", vendor="canonical", routing_key="canonical.export",
                 items=[IncomingReport(vendor="canonical", melding=make_melding())])
    store.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n[duo]\n'
                   f'client_cert = "{pki_dir / "school.pem"}"\nclient_key = "{pki_dir / "school-key.pem"}"\n')
    runner = CliRunner()
    status = runner.invoke(cli, ["--config", str(cfg), "status"])
    assert status.exit_code == 0, status.output
    assert "queued" in status.output and "days left" in status.output
    listing = runner.invoke(cli, ["--config", str(cfg), "meldingen", "list"])
    assert listing.exit_code == 0 and "test-1" in listing.output and "queued" in listing.output
    shown = runner.invoke(cli, ["--config", str(cfg), "meldingen", "show", "1"])
    assert shown.exit_code == 0 and '"history"' in shown.output
    assert "Test Melder" not in shown.output  # no personal data in the archive view
    missing = runner.invoke(cli, ["--config", str(cfg), "meldingen", "show", "99"])
    assert missing.exit_code == 1 and "no report with id 99" in missing.output
    # The issue's own command line: --config after the command.
    after = runner.invoke(cli, ["meldingen", "list", "--json", "--config", str(cfg)])
    assert after.exit_code == 0, after.output
    # (CliRunner skips main()'s logging set-up, so a store log line may precede it)
    listed = json.loads(after.output[after.output.index("[\n"):])
    assert [r["source_id"] for r in listed] == ["test-1"]


@pytest.mark.parametrize("path", command_paths(cli), ids=" ".join)
def test_every_command_takes_config_after_it_too(path: tuple[str, ...], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [*path, "--config", str(tmp_path / "nope.toml"), "--help"])
    assert result.exit_code == 0, result.output
    assert "--config" in result.output


def test_meldingen_clone_queues_a_follow_up_and_prints_its_id(tmp_path: Path,
                                                              pki_dir: Path) -> None:
    from datetime import UTC, date, datetime

    from adapter.store import IncomingReport, Store
    from adapter.testing import make_melding
    db = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{db}")
    store.accept(message_id="m1", vendor="canonical", routing_key="canonical.export",
                 items=[IncomingReport(vendor="canonical", melding=make_melding(
                     einddatum=date(2025, 10, 17))),
                        IncomingReport(vendor="canonical", melding=make_melding(
                            source_id="test-2", student=make_melding().student))])
    [claim] = store.claim_due(limit=5)
    store.mark_registered(claim.submission_id, meldingsnummer="4711", status="R",
                          laatste_mutatie=datetime(2025, 10, 18, tzinfo=UTC))
    store.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n[duo]\n'
                   f'client_cert = "{pki_dir / "school.pem"}"\nclient_key = "{pki_dir / "school-key.pem"}"\n')
    runner = CliRunner()

    def clone(*args: str) -> Any:
        return runner.invoke(cli, ["meldingen", "clone", *args, "--config", str(cfg)])

    def one_error_line(output: str) -> bool:
        # (CliRunner skips main()'s logging set-up, so store log lines may precede it)
        lines = output.strip().splitlines()
        return lines[-1].startswith("error: ") and sum(
            not line.startswith("20") for line in lines) == 1 and "Traceback" not in output

    needs_end = clone("1")
    assert needs_end.exit_code == 1 and "--einddatum" in needs_end.output
    assert one_error_line(needs_end.output)
    done = clone("1", "--einddatum", "2025-10-24")
    assert done.exit_code == 0, done.output
    assert done.output.strip().splitlines()[-1] == "3"
    for args, expected in [(("99", "--einddatum", "2025-10-24"), "no report with id 99"),
                           (("2", "--einddatum", "2025-10-24"), "not registered"),
                           (("1", "--begindatum", "2025-10-08", "--einddatum", "2025-10-24"),
                            "AD023"),
                           (("1", "--einddatum", "2025-10-01"), "VZ010")]:
        refused = clone(*args)
        assert refused.exit_code == 1 and expected in refused.output, (args, refused.output)
        assert one_error_line(refused.output)
    store = open_store(StoreSettings(url=f"sqlite:///{db}"), {})   # the CLI's key
    try:
        reports = {r.source_id: r.state for r in store.list_reports()}
    finally:
        store.close()
    assert reports == {"test-1": "registered", "test-2": "queued",
                       "test-1/vervolg-1": "queued"}


def test_archive_purge_dry_run_counts_and_deletes_nothing(tmp_path: Path) -> None:
    from adapter.store import IncomingReport, Store
    from adapter.testing import make_melding
    db = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{db}")
    store.accept(message_id="m1", vendor="canonical", routing_key="canonical.export",
                 items=[IncomingReport(vendor="canonical", melding=make_melding())])
    store.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n[retention]\nyears = 1\n')
    result = CliRunner().invoke(cli, ["archive", "purge", "--dry-run", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "would delete: reports 0" in result.output       # a queued report is never purged
    store = Store.open(f"sqlite:///{db}")
    assert len(store.list_reports()) == 1
    store.close()
