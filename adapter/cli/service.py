"""Running the adapter: ``run``, ``simulator``, ``publish``, ``status``, ``plugins``, ``demo``."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from adapter import startup
from adapter.cli.root import cli, one_line_errors, settings_from, setup_logging
from adapter.errors import ConfigError


@cli.command()
@click.pass_context
@one_line_errors
def run(ctx: click.Context) -> None:
    """Run the daemon: consume SIS exports, send reports to DUO, publish feedback."""
    # The daemon's libraries and set-up (plugins, schemas, the store's and the client's)
    # live as long as the process: built without the collector, then frozen out of its
    # sight before the daemon's threads start (adapter.startup.quiet_start).
    with startup.quiet_start():
        from adapter.pipeline.daemon import Daemon
        settings = settings_from(ctx)
        setup_logging(settings)
        daemon = Daemon(settings, environ=os.environ)
    sys.exit(daemon.run_forever())


@cli.command()
@click.option("--pki", "pki_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Test PKI directory (from `pki init-test`).")
@click.option("--host", default="127.0.0.1", show_default=True, help="SOAP listen address.")
@click.option("--port", default=8443, show_default=True, help="SOAP (HTTPS) port.")
@click.option("--control-port", default=8444, show_default=True,
              help="Control API port (plain HTTP, loopback only).")
@click.option("--delay-behandeling", default=5.0, show_default=True,
              help="Seconds before the municipality takes a report in behandeling (B).")
@click.option("--delay-afgesloten", default=10.0, show_default=True,
              help="Further seconds before the municipality closes it (G).")
@click.option("--rod", "rod_file", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON student registry: {\"students\": [{\"bsn\", \"geboortedatum\"}]}.")
@click.option("--mandate", "mandate_file", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON {\"mandates\": {\"<cert OIN>\": [\"<school OIN>\", ...]}}: who may "
                   "send for whom (SaaS).")
@click.option("--clock-skew", default=300.0, show_default=True,
              help="Seconds of tolerance on the request's wsu:Timestamp.")
@click.option("--unsigned", is_flag=True,
              help="Accept requests without WS-Security (the unsigned Digikoppeling profile).")
@click.option("--require-stamp/--no-require-stamp", default=True, show_default=True,
              help="Refuse wijzigen and intrekken without datumTijdLaatsteMutatie (VZ904).")
@one_line_errors
def simulator(pki_dir: Path, host: str, port: int, control_port: int, delay_behandeling: float,
              delay_afgesloten: float, rod_file: Path | None, mandate_file: Path | None,
              clock_skew: float, unsigned: bool, require_stamp: bool) -> None:
    """Run the DUO simulator (two-way TLS SOAP, municipality engine, control API).

    It decides with its own rules (docs/architecture.md, "The simulator"); with --rod
    it also refuses students its registry does not know (VZ908)."""
    from adapter.logging import configure_logging
    from adapter.simulator.server import serve
    configure_logging("info", "auto")
    if not (pki_dir / "duo.pem").exists():
        raise ConfigError(f"{pki_dir} holds no test PKI; run `verzuim-adapter pki init-test {pki_dir}`")
    serve(pki_dir, host=host, port=port, control_port=control_port,
          delay_behandeling=delay_behandeling, delay_afgesloten=delay_afgesloten,
          rod_file=rod_file, mandate_file=mandate_file, clock_skew=clock_skew,
          require_signature=not unsigned, require_stamp=require_stamp)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vendor", required=True, help="Vendor name (routing key prefix).")
@click.option("--kind", default="export", show_default=True, help="Routing key suffix.")
@click.option("--message-id", help="AMQP message_id (default: a fresh UUID).")
@click.option("--content-type", help="AMQP content_type (default: from the file name).")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
              help="An AMQP header (repeatable), e.g. for --kind bijlage: "
                   "--header source_id=VM-1 --header bestandsnaam=brief.pdf.")
@click.pass_context
@one_line_errors
def publish(ctx: click.Context, file: Path, vendor: str, kind: str, message_id: str | None,
            content_type: str | None, headers: tuple[str, ...]) -> None:
    """Publish an export FILE to the SIS exchange, as a SIS would (or, with --kind
    bijlage, a file attached to a report)."""
    from adapter.sis import publish_export
    settings = settings_from(ctx)
    table: dict[str, str] = {}
    for item in headers:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter("expected NAME=VALUE", param_hint="--header")
        table[name] = value
    guessed = {".json": "application/json", ".csv": "text/csv", ".pdf": "application/pdf",
               ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"
               }.get(file.suffix.lower())
    sent = publish_export(settings.amqp, body=file.read_bytes(), vendor=vendor, kind=kind,
                          message_id=message_id, content_type=content_type or guessed,
                          headers=table or None)
    click.echo(f"published {file.name} as {vendor}.{kind} message_id={sent}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--offline", is_flag=True,
              help="Skip the network checks (TLS handshake with DUO, dead-letter queue depth).")
@click.pass_context
@one_line_errors
def status(ctx: click.Context, as_json: bool, offline: bool) -> None:
    """Counts per state, oldest pending, DUO reachability and last error, last poll and
    its lag, certificate days left, dead letters, open signals."""
    settings = settings_from(ctx)
    from adapter.commands.status import collect_status, render_status
    info = collect_status(settings, dict(os.environ), offline=offline)
    click.echo(json.dumps(info, indent=2, default=_json_default) if as_json
               else render_status(info))


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@cli.command()
@one_line_errors
def plugins() -> None:
    """List the installed vendor plugins and their versions."""
    from adapter.vendors import load_vendors
    for name, version, dist in load_vendors().describe():
        click.echo(f"{name:<12} {version:<10} {dist}")


@cli.command()
@click.option("--timeout", default=150.0, show_default=True, help="Give up after this many seconds.")
@click.option("--control-port", default=8444, show_default=True,
              help="Port of the simulator's control API (0: any free port).")
@click.pass_context
@one_line_errors
def demo(ctx: click.Context, timeout: float, control_port: int) -> None:
    """Run the whole path once: test PKI, simulator, daemon, sample exports, summary."""
    from adapter.commands.demo import run_demo
    sys.exit(run_demo(settings_from(ctx), timeout=timeout, control_port=control_port))
