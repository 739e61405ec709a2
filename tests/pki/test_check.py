"""``cert check`` and the chain builder: exit codes through the real CLI, each problem named."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adapter.cli import cli
from adapter.config import load_settings
from adapter.pki.certs import load_pem_chain
from adapter.pki.chain import build_chain
from adapter.pki.check import (CHAIN_INCOMPLETE, EXPIRED, KEY_UNSAFE, NOT_YET_VALID, OIN_MISMATCH,
                               USABLE, check_certificate)
from adapter.pki.testpki import _key, _leaf_cert, _load_ca, _name, _write, issue_leaf

from .conftest import OIN, PASSPHRASE, write_secret


def _config(tmp_path: Path, pki: Path, *, cert: str = "school.pem",
            key: str | None = "school-key.pem", bundle: str = "trust-bundle.pem",
            extra_duo: str = "", school_oin: str = OIN) -> Path:
    lines = ["[school]", f'oin = "{school_oin}"', "[duo]",
             f'ca_bundle = "{pki / bundle}"', f'client_cert = "{pki / cert}"']
    if key:
        lines.append(f'client_key = "{pki / key}"')
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n" + extra_duo)
    return path


def _check(config: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), "cert", "check"], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def _issue(pki: str | Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["pki", "issue-test", str(pki), *args])
    assert result.exit_code == 0, result.output


def test_usable_certificate(pki: Path, tmp_path: Path) -> None:
    code, out = _check(_config(tmp_path, pki))
    assert code == USABLE == 0, out
    assert f"OIN:         {OIN}" in out
    assert "serialNumber=" + OIN in out
    assert "Test TSP PKIoverheid Private Services CA - G1" in out
    assert "Test Staat der Nederlanden Private Root CA - G1" in out
    assert "days left:" in out and "not after:" in out and "verdict: usable" in out


def test_expired_and_not_yet_valid_exit_10_and_11(pki: Path, tmp_path: Path) -> None:
    _issue(pki, "cli-expired", "--expired")
    _issue(pki, "cli-future", "--not-yet-valid")
    code, out = _check(_config(tmp_path, pki, cert="cli-expired.pem", key="cli-expired-key.pem"))
    assert code == EXPIRED == 10, out
    assert "problem (10): expired on" in out and "verdict: NOT usable (exit 10)" in out
    code, out = _check(_config(tmp_path, pki, cert="cli-future.pem", key="cli-future-key.pem"))
    assert code == NOT_YET_VALID == 11, out
    assert "problem (11): not valid before" in out


def test_oin_missing_or_mismatched_exit_12(pki: Path, tmp_path: Path) -> None:
    _issue(pki, "cli-nooin", "--no-oin")
    _issue(pki, "cli-other", "--oin", "00000099000000000777")
    code, out = _check(_config(tmp_path, pki, cert="cli-nooin.pem", key="cli-nooin-key.pem"))
    assert code == OIN_MISMATCH == 12, out
    assert "has no OIN (subject serialNumber)" in out
    code, out = _check(_config(tmp_path, pki, cert="cli-other.pem", key="cli-other-key.pem"))
    assert code == 12 and "carries 00000099000000000777" in out and f"expects {OIN}" in out


def test_saas_sender_oin(pki: Path, tmp_path: Path) -> None:
    """With duo.sender_oin the certificate must carry the sender's OIN, not the school's."""
    other_school = "0000000700025BE00000"
    code, out = _check(_config(tmp_path, pki, school_oin=other_school,
                               extra_duo=f'sender_oin = "{OIN}"\n'))
    assert code == 0, out
    code, out = _check(_config(tmp_path, pki, school_oin=other_school))
    assert code == 12 and f"expects {other_school}" in out


def test_chain_incomplete_exit_13_names_the_missing_link(pki: Path, tmp_path: Path) -> None:
    leaf_only = pki / "school-leaf-only.pem"
    leaf_only.write_bytes(load_pem_chain(pki / "school.pem")[0].public_bytes(
        serialization.Encoding.PEM))
    # the trust bundle holds the intermediates: complete
    code, out = _check(_config(tmp_path, pki, cert="school-leaf-only.pem"))
    assert code == 0, out
    # only the root trusted and no intermediates in the file: the TSP CA is missing
    code, out = _check(_config(tmp_path, pki, cert="school-leaf-only.pem", bundle="root-ca.pem"))
    assert code == CHAIN_INCOMPLETE == 13, out
    assert ("no issuer certificate for 'serialNumber=00000099000000000001,"
            "CN=verzuim-adapter.test,O=Test School,C=NL' (issuer 'CN=Test TSP PKIoverheid "
            "Private Services CA - G1") in out
    assert "root-ca.pem" in out
    # with the intermediates in the certificate file, the root alone is enough
    code, out = _check(_config(tmp_path, pki, bundle="root-ca.pem"))
    assert code == 0, out
    _issue(pki, "cli-foreign", "--foreign")
    code, out = _check(_config(tmp_path, pki, cert="cli-foreign.pem", key="cli-foreign-key.pem"))
    assert code == 13 and "'CN=Foreign Test CA,O=Not PKIoverheid,C=NL'" in out


def test_key_problems_exit_14(pki: Path, tmp_path: Path) -> None:
    write_secret(pki / "open-key.pem", (pki / "school-key.pem").read_bytes(), 0o644)
    code, out = _check(_config(tmp_path, pki, key="open-key.pem"))
    assert code == KEY_UNSAFE == 14, out
    assert "readable by group or others" in out
    assert "subject:     serialNumber=" in out          # the certificate is still shown
    cfg = _config(tmp_path, pki, key="school-key-enc.pem", extra_duo='key_passphrase_env = "PW"\n')
    code, out = _check(cfg, env={"PW": "wrong"})
    assert code == 14 and "passphrase is wrong" in out
    code, out = _check(cfg, env={"PW": PASSPHRASE})
    assert code == 0, out
    code, out = _check(_config(tmp_path, pki, key="duo-key.pem"))
    assert code == 14 and "does not belong to the certificate" in out
    cfg = _config(tmp_path, pki, cert="school-pw.p12", key=None,
                  extra_duo='key_passphrase_env = "PW"\n')
    code, out = _check(cfg, env={"PW": "wrong"})
    assert code == 14 and "passphrase is wrong" in out
    assert _check(cfg, env={"PW": PASSPHRASE})[0] == 0


def test_precedence_and_signing_certificate(pki: Path, tmp_path: Path) -> None:
    """Expired wins over the rest; a separate signing certificate is checked too."""
    now = datetime.now(UTC)
    tsp, tsp_key = _load_ca(pki, "tsp")
    key = _key()
    old = _leaf_cert(_name("both.test", "Test School", None), key, issuer=tsp,
                     issuer_key=tsp_key, hosts=(), not_before=now - timedelta(days=10),
                     not_after=now - timedelta(days=1))
    _write(pki / "both.pem", old.public_bytes(serialization.Encoding.PEM))
    _write(pki / "both-key.pem", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), secret=True)
    code, out = _check(_config(tmp_path, pki, cert="both.pem", key="both-key.pem",
                               bundle="root-ca.pem"))
    assert code == 10 and "problem (12)" in out and "problem (13)" in out, out
    code, out = _check(_config(tmp_path, pki, extra_duo=(
        f'signing_cert = "{pki / "both.pem"}"\nsigning_key = "{pki / "both-key.pem"}"\n')))
    assert code == 10 and "TLS certificate:" in out and "signing certificate:" in out


def test_check_certificate_api_with_injected_now(pki: Path, tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, pki))
    leaf = load_pem_chain(pki / "school.pem")[0]
    end, start = leaf.not_valid_after_utc, leaf.not_valid_before_utc
    report = check_certificate(settings, environ={}, now=end - timedelta(days=20))
    assert report.exit_code == 0 and report.certificates[0].days_left == 20
    assert report.warnings and "expires in 20 days" in report.render()
    report = check_certificate(settings, environ={}, now=end + timedelta(seconds=1))
    assert report.exit_code == 10
    report = check_certificate(settings, environ={}, now=start - timedelta(seconds=1))
    assert report.exit_code == 11


def test_missing_files_are_config_errors(pki: Path, tmp_path: Path) -> None:
    code, out = _check(_config(tmp_path, pki, cert="nothing-here.pem"))
    assert code == 2 and "nothing-here.pem cannot be read" in out


def test_chain_checks_signatures_not_just_names(pki: Path) -> None:
    """A leaf naming the real TSP CA as issuer but signed by another key is refused."""
    now = datetime.now(UTC)
    tsp, _ = _load_ca(pki, "tsp")
    impostor_key = _key()
    leaf = _leaf_cert(_name("forged.test", "Test School", OIN), _key(), issuer=tsp,
                      issuer_key=impostor_key, hosts=(), not_before=now - timedelta(days=1),
                      not_after=now + timedelta(days=30))
    assert leaf.issuer == tsp.subject
    trusted = load_pem_chain(pki / "trust-bundle.pem")
    result = build_chain(leaf, [], trusted, bundle_name="bundle.pem")
    assert not result.complete
    assert "is not signed by the certificate named 'CN=Test TSP" in (result.problem or "")
    good = load_pem_chain(pki / "school.pem")
    result = build_chain(good[0], good[1:], trusted, bundle_name="bundle.pem")
    assert result.complete and [c.subject for c in result.path] == \
        [good[0].subject, good[1].subject, good[2].subject, trusted[0].subject]
    # a self-signed root outside the bundle is named
    issue_leaf(pki, "chain-foreign", oin=OIN, not_before=now - timedelta(days=1),
               not_after=now + timedelta(days=30), foreign=True)
    foreign_root = load_pem_chain(pki / "chain-foreign-ca.pem")[0]
    foreign_leaf = load_pem_chain(pki / "chain-foreign.pem")[0]
    result = build_chain(foreign_leaf, [foreign_root], trusted, bundle_name="bundle.pem")
    assert result.problem == "root 'CN=Foreign Test CA,O=Not PKIoverheid,C=NL' is not in bundle.pem"
    assert result.path == (foreign_leaf, foreign_root)


def test_issue_test_cli_validates(pki: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["pki", "issue-test", str(pki), "x", "--expired",
                                 "--not-yet-valid"])
    assert result.exit_code == 2 and "exclude each other" in result.output
    result = runner.invoke(cli, ["pki", "issue-test", str(pki), "x", "--oin", "123"])
    assert result.exit_code == 2 and "--oin must be 20 characters" in result.output
    result = runner.invoke(cli, ["pki", "issue-test", str(pki), "../escape"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["pki", "issue-test", str(tmp_path), "x"])
    assert result.exit_code == 2 and "holds no test PKI" in result.output
    _issue(pki, "cli-days", "--days", "10")
    leaf = load_pem_chain(pki / "cli-days.pem")[0]
    assert (leaf.not_valid_after_utc - datetime.now(UTC)).days in (9, 10)
    assert os.stat(pki / "cli-days-key.pem").st_mode & 0o077 == 0
    assert isinstance(leaf, x509.Certificate)
