"""Certificates: ``pki init-test``/``issue-test`` (a test PKI) and ``cert check``/``csr``."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import click

from adapter.cli.root import cli, one_line_errors, settings_from
from adapter.errors import ConfigError


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
    from datetime import UTC, timedelta

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
