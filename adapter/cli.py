"""Command line: ``verzuim-adapter`` (also ``python -m adapter``).

Every command has ``--help``; errors are one line on stderr and a non-zero exit,
never a traceback. Configuration is read once here and passed down.
"""

from __future__ import annotations

import faulthandler
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from adapter import __version__
from adapter.config import Settings, load_settings
from adapter.errors import AdapterError, ConfigError

F = TypeVar("F", bound=Callable[..., Any])
LATER = "not available yet: this command arrives in a later release (see docs/roadmap.md)"


def one_line_errors(fn: F) -> F:
    """Turn our errors into one line on stderr (exit 2 for config, 1 otherwise)."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except AdapterError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


def settings_from(ctx: click.Context) -> Settings:
    """Load the configuration once per invocation (``--config`` or VERZUIM_CONFIG)."""
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config_path"))
    return obj["settings"]


def setup_logging(settings: Settings) -> None:
    from adapter.logging import configure_logging
    configure_logging(settings.logging.level, settings.logging.format)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="verzuim-adapter")
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="VERZUIM_CONFIG",
              help="TOML configuration file (env VERZUIM_CONFIG). Defaults apply without one.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """verzuim-adapter: the DUO machinekoppeling verzuim as a sidecar beside your SIS."""
    ctx.ensure_object(dict)["config_path"] = config_path


@cli.command()
@click.pass_context
@one_line_errors
def run(ctx: click.Context) -> None:
    """Run the daemon: consume SIS exports, send reports to DUO, publish feedback."""
    from adapter.daemon import Daemon
    settings = settings_from(ctx)
    setup_logging(settings)
    sys.exit(Daemon(settings).run_forever())


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
@one_line_errors
def simulator(pki_dir: Path, host: str, port: int, control_port: int, delay_behandeling: float,
              delay_afgesloten: float, rod_file: Path | None) -> None:
    """Run the DUO simulator (two-way TLS SOAP, municipality engine, control API)."""
    from adapter.logging import configure_logging
    from adapter.simulator.server import serve
    configure_logging("info", "auto")
    if not (pki_dir / "duo.pem").exists():
        raise ConfigError(f"{pki_dir} holds no test PKI; run `verzuim-adapter pki init-test {pki_dir}`")
    serve(pki_dir, host=host, port=port, control_port=control_port,
          delay_behandeling=delay_behandeling, delay_afgesloten=delay_afgesloten, rod_file=rod_file)


@cli.group()
def pki() -> None:
    """Test certificates (a PKIoverheid-like chain for the proeftuin)."""


@pki.command("init-test")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--school-oin", default="00000099000000000001", show_default=True,
              help="OIN put in the school certificate's subject serialNumber.")
@click.option("--host", "hosts", multiple=True, default=("localhost", "127.0.0.1"),
              show_default=True, help="Name or IP the simulator's certificate is valid for (repeat).")
@one_line_errors
def pki_init_test(directory: Path, school_oin: str, hosts: tuple[str, ...]) -> None:
    """Write a complete test PKI into DIRECTORY (CA chain, DUO and school certificates)."""
    from adapter.pki.testpki import init_test_pki
    from adapter.domain.identifiers import is_valid_oin
    if not is_valid_oin(school_oin):
        raise ConfigError("--school-oin must be 20 characters of 0-9 and A-Z")
    init_test_pki(directory, school_oin=school_oin, hosts=hosts)
    click.echo(f"pki: wrote test PKI to {directory} (school OIN {school_oin})")


@cli.group()
def cert() -> None:
    """The configured PKIoverheid certificate."""


@cert.command("check")
@click.pass_context
@one_line_errors
def cert_check(ctx: click.Context) -> None:
    """Show subject, OIN, issuer and days to expiry; non-zero exit when unusable."""
    from adapter.pki.check import check_certificate
    settings = settings_from(ctx)
    report, code = check_certificate(settings)
    click.echo(report)
    sys.exit(code)


@cert.command("csr")
def cert_csr() -> None:
    """Create an RSA key and a PKCS#10 request with the PKIoverheid subject fields."""
    click.echo(f"cert csr: {LATER}", err=True)
    sys.exit(3)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vendor", required=True, help="Vendor name (routing key prefix).")
@click.option("--kind", default="export", show_default=True, help="Routing key suffix.")
@click.option("--message-id", help="AMQP message_id (default: a fresh UUID).")
@click.option("--content-type", help="AMQP content_type (default: from the file name).")
@click.pass_context
@one_line_errors
def publish(ctx: click.Context, file: Path, vendor: str, kind: str, message_id: str | None,
            content_type: str | None) -> None:
    """Publish an export FILE to the SIS exchange, as a SIS would."""
    from adapter.sis import publish_export
    settings = settings_from(ctx)
    guessed = {".json": "application/json", ".csv": "text/csv"}.get(file.suffix.lower())
    sent = publish_export(settings.amqp, body=file.read_bytes(), vendor=vendor, kind=kind,
                          message_id=message_id, content_type=content_type or guessed)
    click.echo(f"published {file.name} as {vendor}.{kind} message_id={sent}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@one_line_errors
def status(ctx: click.Context, as_json: bool) -> None:
    """Backlog per state, oldest pending, last poll, certificate expiry."""
    settings = settings_from(ctx)
    from adapter.status import collect_status, render_status
    info = collect_status(settings)
    click.echo(json.dumps(info, indent=2, default=str) if as_json else render_status(info))


@cli.group()
def meldingen() -> None:
    """Browse the local archive of reports."""


@meldingen.command("list")
@click.option("--state", help="Only reports in this state (queued, registered, rejected, …).")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
@one_line_errors
def meldingen_list(ctx: click.Context, state: str | None, limit: int) -> None:
    """List reports: internal id, source id, state, DUO status, meldingsnummer."""
    from adapter.status import render_reports
    from adapter.store import Store
    store = Store.open(settings_from(ctx).store.url)
    try:
        click.echo(render_reports(store.list_reports(limit=limit, state=state)))
    finally:
        store.close()


@meldingen.command("show")
@click.argument("report_id", type=int)
@click.pass_context
@one_line_errors
def meldingen_show(ctx: click.Context, report_id: int) -> None:
    """Show one report's history, submissions and exchanges (no personal data)."""
    from adapter.store import Store
    store = Store.open(settings_from(ctx).store.url)
    try:
        detail = store.report_detail(report_id)
    finally:
        store.close()
    if detail is None:
        raise AdapterError(f"no report with id {report_id}")
    click.echo(json.dumps(detail, indent=2, default=str))


@cli.command()
def replay() -> None:
    """Resend dead-lettered or failed records, showing the original failure."""
    click.echo(f"replay: {LATER}", err=True)
    sys.exit(3)


@cli.command()
@click.argument("report_id", type=int)
def incident(report_id: int) -> None:
    """Fill DUO's helpdesk incident template from the stored exchange (redacted)."""
    click.echo(f"incident: {LATER}", err=True)
    sys.exit(3)


@cli.command()
@one_line_errors
def plugins() -> None:
    """List the installed vendor plugins and their versions."""
    from adapter.plugins import load_vendors
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
    from adapter.demo import run_demo
    sys.exit(run_demo(settings_from(ctx), timeout=timeout, control_port=control_port))


def main() -> None:
    """Console-script entry point."""
    # A crash inside a C extension (TLS, XML, database driver) must leave a
    # Python traceback on stderr rather than a bare exit code.
    faulthandler.enable()
    from adapter.logging import configure_logging
    # Until a command configures logging from its settings, only warnings reach
    # stderr, so plugin loading cannot clutter a command's own output.
    configure_logging("warning", "console", stream=sys.stderr)
    try:
        from adapter.plugins import load_vendors, register_commands
        register_commands(cli, load_vendors())
    except AdapterError:  # a broken plugin set-up: `plugins` and `run` report it in full
        pass
    cli(prog_name="verzuim-adapter")
