"""Command line: ``verzuim-adapter`` (also ``python -m adapter``).

Every command has ``--help``; errors are one line on stderr and a non-zero exit,
never a traceback. Configuration is read once here and passed down.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from adapter import __version__
from adapter.config import Settings, load_settings
from adapter.errors import AdapterError, ConfigError

F = TypeVar("F", bound=Callable[..., Any])


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
    settings: Settings = obj["settings"]
    return settings


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
    from adapter.pipeline.daemon import Daemon
    settings = settings_from(ctx)
    setup_logging(settings)
    sys.exit(Daemon(settings, environ=os.environ).run_forever())


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
    from adapter.domain.identifiers import is_valid_oin
    from adapter.pki.testpki import init_test_pki
    if not is_valid_oin(school_oin):
        raise ConfigError("--school-oin must be 20 characters of 0-9 and A-Z")
    init_test_pki(directory, school_oin=school_oin, hosts=hosts)
    click.echo(f"pki: wrote test PKI to {directory} (school OIN {school_oin})")


@pki.command("issue-test")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("name")
@click.option("--expired", is_flag=True, help="Valid from 400 days ago until yesterday.")
@click.option("--not-yet-valid", is_flag=True, help="Valid from tomorrow.")
@click.option("--no-oin", is_flag=True, help="No subject serialNumber (no OIN).")
@click.option("--oin", default="00000099000000000001", show_default=True,
              help="OIN in the subject serialNumber.")
@click.option("--foreign", is_flag=True, help="Issued by a fresh CA outside the trust bundle.")
@click.option("--days", default=365, show_default=True, help="Validity (from yesterday) in days.")
@one_line_errors
def pki_issue_test(directory: Path, name: str, expired: bool, not_yet_valid: bool, no_oin: bool,
                   oin: str, foreign: bool, days: int) -> None:
    """Issue an extra test certificate NAME.pem / NAME-key.pem into a test PKI DIRECTORY."""
    import re
    from datetime import UTC, datetime, timedelta

    from adapter.pki.testpki import issue_leaf
    if expired and not_yet_valid:
        raise ConfigError("--expired and --not-yet-valid exclude each other")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", name):
        raise ConfigError("NAME must be letters, digits, '-' or '_' (it becomes a file name)")
    if not no_oin and not re.fullmatch(r"[0-9A-Z]{20}", oin):
        raise ConfigError("--oin must be 20 characters of 0-9 and A-Z")
    if not foreign and not (directory / "ca" / "tsp-key.pem").exists():
        raise ConfigError(f"{directory} holds no test PKI; "
                          f"run `verzuim-adapter pki init-test {directory}`")
    now = datetime.now(UTC)
    start, end = now - timedelta(days=1), now + timedelta(days=days)
    if expired:
        start, end = now - timedelta(days=400), now - timedelta(days=1)
    elif not_yet_valid:
        start, end = now + timedelta(days=1), now + timedelta(days=1 + days)
    cert_path, key_path = issue_leaf(directory, name, oin=None if no_oin else oin,
                                     not_before=start, not_after=end, foreign=foreign)
    click.echo(f"pki: wrote {cert_path} and {key_path} (valid {start:%Y-%m-%d} to {end:%Y-%m-%d})")


@cli.group()
def cert() -> None:
    """The configured PKIoverheid certificate: check it, or request a new one."""


@cert.command("check")
@click.pass_context
@one_line_errors
def cert_check(ctx: click.Context) -> None:
    """Show subject, OIN, issuer chain and days to expiry of the TLS (and signing) certificate.

    Exit 0 usable, 10 expired, 11 not yet valid, 12 OIN missing or wrong,
    13 chain incomplete, 14 key unsafe, unreadable, passphrase wrong or not matching.
    """
    import os

    from adapter.pki.check import check_certificate
    settings = settings_from(ctx)
    report = check_certificate(settings, environ=os.environ)
    click.echo(report.render())
    sys.exit(report.exit_code)


@cert.command("csr")
@click.option("--oin", required=True, help="OIN of the organisation (subject serialNumber).")
@click.option("--org", "organisation", required=True, help="Legal name of the organisation (O).")
@click.option("--cn", "common_name", required=True, help="Host name (FQDN) of this server (CN).")
@click.option("--key-out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the new private key (created mode 0600).")
@click.option("--csr-out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PKCS#10 request (PEM).")
@click.option("--key-size", type=click.Choice(["2048", "3072", "4096"]), default="2048",
              show_default=True, help="RSA key size.")
@click.option("--passphrase-env", metavar="VAR",
              help="Encrypt the key with the passphrase in environment variable VAR.")
@click.option("--force", is_flag=True, help="Replace existing output files.")
@one_line_errors
def cert_csr(oin: str, organisation: str, common_name: str, key_out: Path, csr_out: Path,
             key_size: str, passphrase_env: str | None, force: bool) -> None:
    """Create an RSA key and a PKCS#10 request with the PKIoverheid subject fields."""
    import os

    from adapter.pki.csr import NEXT_STEPS, make_csr
    passphrase = None
    if passphrase_env:
        value = os.environ.get(passphrase_env)
        if not value:
            raise ConfigError(f"--passphrase-env names {passphrase_env}, which is not set or empty")
        passphrase = value.encode("utf-8")
    result = make_csr(oin=oin, organisation=organisation, common_name=common_name,
                      key_out=key_out, csr_out=csr_out, key_size=int(key_size),
                      passphrase=passphrase, force=force)
    click.echo(f"cert csr: wrote {result.key_path} (private key, mode 0600"
               f"{', encrypted' if passphrase else ''}) and {result.csr_path}")
    click.echo(f"subject: {result.subject}")
    click.echo(NEXT_STEPS.format(csr=result.csr_path, key=result.key_path))


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


@cli.group()
def archive() -> None:
    """The archive's upkeep: retention (purge) and encryption keys (new-key, rotate-key)."""


@archive.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what the policy would delete; delete nothing.")
@click.pass_context
@one_line_errors
def archive_purge(ctx: click.Context, dry_run: bool) -> None:
    """Apply [retention] now: delete closed reports past the period and past DUO's
    horizon, with their exchanges, attachments, feedback and registrations."""
    from datetime import UTC, datetime

    from adapter.pipeline.retention import purge
    from adapter.store.keys import open_store
    settings = settings_from(ctx)
    store = open_store(settings.store, dict(os.environ))
    try:
        done = [0]

        def progress(n: int) -> None:
            done[0] += n
            click.echo(f"purge: {done[0]} reports {'counted' if dry_run else 'done'}", err=True)
        counts = purge(store, settings.retention, datetime.now(UTC), dry_run=dry_run,
                       progress=progress)
    finally:
        store.close()
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb}: " + ", ".join(f"{name} {counts.get(name, 0)}" for name in (
        "reports", "submissions", "exchanges", "bijlagen", "terugmeldingen", "history",
        "outbox", "registraties", "signals", "inbox")))


@cli.group()
def meldingen() -> None:
    """Browse the local archive of reports."""


@meldingen.command("list")
@click.option("--state", help="Only reports in this state (queued, held, registered, rejected, …).")
@click.option("--status", "duo_status", type=click.Choice(["R", "B", "G", "K", "I"]),
              help="Only reports with this DUO status letter.")
@click.option("--brin", help="Only reports of this school (BRIN).")
@click.option("--soort", "verzuimsoort", help="Only reports of this verzuimsoort (V3, LRV, …).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Only reports received on or after this day (UTC).")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True,
              help="A JSON array of objects: id, source_id, vendor, brin, state, meldingsnummer, "
                   "…, origin (adapter, or web: typed into DUO's web counter).")
@click.pass_context
@one_line_errors
def meldingen_list(ctx: click.Context, state: str | None, duo_status: str | None,
                   brin: str | None, verzuimsoort: str | None, since: datetime | None,
                   limit: int, as_json: bool) -> None:
    """List reports, newest first: internal id, source id, state, DUO status, meldingsnummer.

    Reports typed into DUO's web counter (learnt from DUO's feedback) are listed too,
    with no source id (``(web)``)."""
    from adapter.commands.archive import report_json
    from adapter.commands.status import render_reports
    from adapter.store.keys import open_store
    store = open_store(settings_from(ctx).store, dict(os.environ))
    try:
        reports = store.list_reports(limit=limit, state=state, duo_status=duo_status,
                                     brin=brin.upper() if brin else None,
                                     verzuimsoort=verzuimsoort.upper() if verzuimsoort else None,
                                     since=since)
    finally:
        store.close()
    click.echo(json.dumps([report_json(r) for r in reports], indent=2) if as_json
               else render_reports(reports))


@cli.command("signalen")
@click.option("--json", "as_json", is_flag=True,
              help="A JSON array of objects: id, signaal, vendor, brin, state, leerlingnummer, "
                   "begindatum, einddatum, uren, reden, meld_uiterlijk, raised_at.")
@click.option("--all", "include_closed", is_flag=True, help="Closed signals too.")
@click.pass_context
@one_line_errors
def signalen(ctx: click.Context, as_json: bool, include_closed: bool) -> None:
    """List the open signals (16 hours reached, deadline passed, …), newest first."""
    from adapter.commands.signals import render_signals
    from adapter.store.keys import open_store
    store = open_store(settings_from(ctx).store, dict(os.environ))
    try:
        rows = store.list_signals(include_closed=include_closed)
    finally:
        store.close()
    click.echo(json.dumps(rows, indent=2) if as_json else render_signals(rows))


@meldingen.command("show")
@click.argument("report_id", type=int)
@click.option("--xml", "as_xml", is_flag=True,
              help="The stored request and response envelopes, oldest first, byte for byte "
                   "as sent and received (they contain personal data).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="With --xml: write one file per envelope into this directory.")
@click.pass_context
@one_line_errors
def meldingen_show(ctx: click.Context, report_id: int, as_xml: bool,
                   out_dir: Path | None) -> None:
    """Show one report's history, submissions and exchanges (no personal data), or
    with --xml the envelopes themselves."""
    from adapter.commands.archive import envelopes, write_envelopes
    from adapter.store.keys import open_store
    if out_dir is not None and not as_xml:
        raise click.UsageError("--out goes with --xml")
    store = open_store(settings_from(ctx).store, dict(os.environ))
    try:
        detail = store.report_detail(report_id)
        exchanges = store.exchanges_for(report_id) if as_xml else []
    finally:
        store.close()
    if detail is None:
        raise AdapterError(f"no report with id {report_id}")
    if not as_xml:
        click.echo(json.dumps(detail, indent=2, default=str))
        return
    if not exchanges:
        raise AdapterError(f"report {report_id} has no stored exchanges with DUO")
    write_envelopes(envelopes(exchanges), out_dir=out_dir,
                    stdout=sys.stdout.buffer,
                    note=lambda text: click.echo(text, err=True))


@meldingen.command("evidence")
@click.argument("report_id", type=int, required=False)
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The bundle's directory (with --all: one subdirectory per report id). "
                   "Made 0700; refused when it exists and is not empty, unless --force.")
@click.option("--all", "all_reports", is_flag=True,
              help="A bundle for every report (with --since: changed on or after DATE).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="With --all: only reports changed on or after this day (UTC).")
@click.option("--force", is_flag=True,
              help="Write into a non-empty --out; files of the same name are replaced, "
                   "others are left as they are.")
@click.pass_context
@one_line_errors
def meldingen_evidence(ctx: click.Context, report_id: int | None, out_dir: Path,
                       all_reports: bool, since: datetime | None, force: bool) -> None:
    """Write REPORT_ID's evidence bundle into --out: report.html (the page a person
    reads), every envelope byte for byte, the certificates that signed them, and
    verification.txt (each signature checked again, independently, now).

    The bundle holds personal data (files 0600, directory 0700). Prints the
    bundle directory (one per line with --all; progress on stderr).
    """
    from adapter.commands.evidence import bundle_dir_ready, write_bundle
    from adapter.pki.certs import load_pem_chain
    from adapter.store.keys import open_store
    if all_reports == (report_id is not None):
        raise click.UsageError("give a REPORT_ID or --all")
    if since is not None and not all_reports:
        raise click.UsageError("--since goes with --all")
    settings = settings_from(ctx)
    bundle_dir_ready(out_dir, force=force)
    duo_path = settings.duo.signature_cert
    duo_cert = load_pem_chain(duo_path)[0] if duo_path.is_file() else None
    lessons_in_day = settings.school.calendar().lessons_in_day
    store = open_store(settings.store, dict(os.environ))
    try:
        if not all_reports:
            assert report_id is not None
            if store.report_detail(report_id) is None:
                raise AdapterError(f"no report with id {report_id}")
            bundle = write_bundle(store, report_id, out_dir, duo_cert=duo_cert,
                                  lessons_in_day=lessons_in_day)
            click.echo(str(bundle.directory))
            return
        ids = store.report_ids(since=since)
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(out_dir, 0o700)
        done: list[Path] = []
        with click.progressbar(ids, label="evidence bundles", file=sys.stderr,
                               show_pos=True) as bar:
            for rid in bar:
                done.append(write_bundle(store, rid, out_dir / str(rid), duo_cert=duo_cert,
                                         lessons_in_day=lessons_in_day).directory)
    finally:
        store.close()
    for path in done:
        click.echo(str(path))
    click.echo(f"{len(done)} bundle{'s' if len(done) != 1 else ''} in {out_dir}", err=True)


@meldingen.command("clone")
@click.argument("report_id", type=int)
@click.option("--begindatum", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="First day of the follow-up (default: the day after the report's einddatum).")
@click.option("--einddatum", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Last day of the follow-up; required when the report is V3 or V4 "
                   "(default for other kinds: open-ended).")
@click.pass_context
@one_line_errors
def meldingen_clone(ctx: click.Context, report_id: int, begindatum: datetime | None,
                    einddatum: datetime | None) -> None:
    """Queue a follow-up (vervolgmelding) of registered report REPORT_ID; print its id.

    Same student, verzuimsoort, melder and school; source id
    <source_id>/vervolg-<n>; vervolg_op names the report, so DUO gets its
    meldingsnummer. Its days come from the student's registrations. The daemon
    sends it; the SIS hears of it through the usual registered/rejected events.
    Refused (nothing stored) when the report is unknown or not registered, when
    a V3/V4 clone has no --einddatum, when it begins fewer than 7 days after the
    report's begindatum (AD023), or when it breaks DUO's rules (codes named).
    """
    from adapter.pipeline.intake import content_check, today_in_nl
    from adapter.store.keys import open_store
    store = open_store(settings_from(ctx).store, dict(os.environ))
    try:
        today = today_in_nl()
        cloned = store.clone(report_id, begindatum=begindatum.date() if begindatum else None,
                             einddatum=einddatum.date() if einddatum else None,
                             today=today, check=content_check(today))
    finally:
        store.close()
    click.echo(cloned.report_id)


@cli.command()
@click.option("--state", "state", type=click.Choice(["failed", "dead"]), default="failed",
              show_default=True,
              help="failed: submissions that gave up after duo.max_attempts; dead: the "
                   "dead-letter queue (after a plugin fix).")
@click.option("--id", "record_id", metavar="ID",
              help="Only this record: a report id (failed) or an AMQP message_id (dead).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@one_line_errors
def replay(ctx: click.Context, state: str, record_id: str | None, yes: bool) -> None:
    """Resend failed submissions or dead letters, showing each one's original failure.

    A failed submission goes back to pending with its SAME business-document id
    (DUO can never get a report twice: one it did process answers "duplicate" and
    is reconciled); a dead letter goes back to the SIS exchange with its original
    routing key, message_id and headers. Asks before resending unless --yes."""
    from adapter.commands.replay import replay_dead, replay_failed
    settings = settings_from(ctx)

    def confirm(question: str) -> bool:
        return yes or click.confirm(question, default=False)

    if state == "failed":
        report_id: int | None = None
        if record_id is not None:
            try:
                report_id = int(record_id)
            except ValueError:
                raise click.BadParameter("a report id (a number) with --state failed",
                                         param_hint="--id") from None
        replay_failed(settings, report_id=report_id, confirm=confirm, echo=click.echo,
                      environ=dict(os.environ))
    else:
        replay_dead(settings, message_id=record_id, confirm=confirm, echo=click.echo)


@archive.command("new-key")
def archive_new_key() -> None:
    """Print a new encryption key (a line for store.encryption_key_file)."""
    from adapter.store.crypto import new_key
    click.echo(new_key().decode("ascii"))


@archive.command("rotate-key")
@click.option("--batch", type=click.IntRange(1, 10_000), default=200, show_default=True,
              help="Rows per (short) transaction.")
@click.pass_context
@one_line_errors
def archive_rotate_key(ctx: click.Context, batch: int) -> None:
    """Re-encrypt the archive with the newest key (the first line of the key file).

    Put the new key first in store.encryption_key_file (or the variable), restart the
    adapter so new rows use it, then run this while it keeps running: older rows (and
    rows stored before encryption was on) are rewritten in short transactions. Remove
    the old key only after it reports completion."""
    from adapter.store.keys import open_store
    settings = settings_from(ctx)
    setup_logging(settings)
    store = open_store(settings.store, dict(os.environ))
    try:
        total = store.encrypted_rows()
        with click.progressbar(length=total, label="re-encrypting rows", file=sys.stderr,
                               show_pos=True) as bar:
            rewritten = store.rotate_key(batch=batch, progress=bar.update)
    finally:
        store.close()
    click.echo(f"rotate-key: {rewritten} of {total} row(s) re-encrypted with the newest key; "
               "every row now reads with it alone")


@cli.command()
@click.argument("report_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The template's fields as JSON.")
@click.pass_context
@one_line_errors
def incident(ctx: click.Context, report_id: int, as_json: bool) -> None:
    """Fill DUO's helpdesk question template from report REPORT_ID's stored exchange.

    The exchange is the report's latest failed, unknown or rejected one (else its
    latest): times, endpoint, wsa:MessageID, business-document id, operation, fault
    code and text, certificate subject, serial and expiry, adapter version. No
    personal data: nothing of the report's content is printed."""
    from adapter.commands.incident import collect_incident, render_incident
    from adapter.store.keys import open_store
    settings = settings_from(ctx)
    store = open_store(settings.store, dict(os.environ))
    try:
        detail = store.report_detail(report_id)
        exchanges = store.exchanges_for(report_id) if detail is not None else []
    finally:
        store.close()
    if detail is None:
        raise AdapterError(f"no report with id {report_id}")
    info = collect_incident(settings, detail, exchanges, environ=os.environ)
    click.echo(json.dumps(info, indent=2) if as_json else render_incident(info))


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


def _set_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_root().ensure_object(dict)["config_path"] = value


def accept_config_everywhere(group: click.Group) -> None:
    """Let ``--config`` follow any command too (``meldingen list --json --config F``).

    Operators paste a command and add the file at the end; a global-only option
    would then fail with "No such option". Idempotent (plugin commands are added
    later, so :func:`main` runs it again)."""
    for command in group.commands.values():
        if not any(p.name == "config_path" for p in command.params):
            command.params.append(click.Option(
                ["--config", "config_path"], type=click.Path(path_type=Path),
                expose_value=False, callback=_set_config,
                help="TOML configuration file (as the global --config)."))
        if isinstance(command, click.Group):
            accept_config_everywhere(command)


def main() -> None:
    """Console-script entry point."""
    # A crash inside a C extension (TLS, XML, database driver) must leave a
    # Python traceback on stderr rather than a bare exit code.
    faulthandler.enable()
    from adapter.pipeline import faults
    faults.arm(os.environ.get("VERZUIM_FAILPOINTS", "").split(","))  # crash tests only
    from adapter.logging import configure_logging
    # Until a command configures logging from its settings, only warnings reach
    # stderr, so plugin loading cannot clutter a command's own output.
    configure_logging("warning", "console", stream=sys.stderr)
    try:
        from adapter.vendors import load_vendors, register_commands
        register_commands(cli, load_vendors())
    except AdapterError:  # a broken plugin set-up: `plugins` and `run` report it in full
        pass
    accept_config_everywhere(cli)
    cli(prog_name="verzuim-adapter")


accept_config_everywhere(cli)  # the built-in commands; main() adds the plugins' commands
