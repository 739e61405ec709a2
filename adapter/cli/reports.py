"""The archive of reports: ``meldingen list``/``show``/``evidence``/``clone`` and ``signalen``."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

import click

from adapter.cli.root import cli, one_line_errors, settings_from
from adapter.errors import AdapterError


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
