"""The operator's upkeep: ``archive purge``/``new-key``/``rotate-key``, ``replay``, ``incident``."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

import click

from adapter.cli.root import cli, one_line_errors, settings_from, setup_logging
from adapter.errors import AdapterError


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
    from datetime import UTC

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
