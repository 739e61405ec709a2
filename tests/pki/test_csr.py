"""``cert csr``: key mode 0600 from creation, PKCS#10 subject with the OIN, openssl agrees."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from adapter.cli import cli

SAAS_OIN = "00000003123456780000"
BRIN_OIN = "0000000700025BE00000"


def _csr(tmp_path: Path, *extra: str, oin: str = SAAS_OIN,
         env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [
        "cert", "csr", "--oin", oin, "--org", "Stichting Voorbeeldscholen",
        "--cn", "verzuim.voorbeeld.nl", "--key-out", str(tmp_path / "key.pem"),
        "--csr-out", str(tmp_path / "req.csr"), *extra], env=env)
    return result.exit_code, result.output


def test_csr_subject_key_and_next_steps(tmp_path: Path) -> None:
    code, out = _csr(tmp_path)
    assert code == 0, out
    assert stat.S_IMODE(os.stat(tmp_path / "key.pem").st_mode) == 0o600
    csr = x509.load_pem_x509_csr((tmp_path / "req.csr").read_bytes())
    assert csr.is_signature_valid
    assert csr.signature_hash_algorithm is not None
    assert csr.signature_hash_algorithm.name == "sha256"
    subject = {a.oid: a.value for a in csr.subject}
    assert subject == {NameOID.COUNTRY_NAME: "NL",
                       NameOID.ORGANIZATION_NAME: "Stichting Voorbeeldscholen",
                       NameOID.COMMON_NAME: "verzuim.voorbeeld.nl", NameOID.SERIAL_NUMBER: SAAS_OIN}
    key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert key.public_key() == csr.public_key()
    assert "PKIoverheid Private Services" in out and "verzuim@duo.nl" in out
    assert "sjabloon" in out and "cert check" in out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_reads_the_csr(tmp_path: Path) -> None:
    assert _csr(tmp_path, "--key-size", "3072", oin=BRIN_OIN)[0] == 0
    result = subprocess.run(["openssl", "req", "-in", str(tmp_path / "req.csr"), "-noout",
                             "-subject", "-verify"], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert f"serialNumber = {BRIN_OIN}" in result.stdout
    assert "C = NL" in result.stdout and "CN = verzuim.voorbeeld.nl" in result.stdout
    assert "verify OK" in (result.stdout + result.stderr)
    key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), None)
    assert key.key_size == 3072  # type: ignore[union-attr]


def test_existing_files_need_force(tmp_path: Path) -> None:
    assert _csr(tmp_path)[0] == 0
    first = (tmp_path / "key.pem").read_bytes()
    code, out = _csr(tmp_path)
    assert code == 2 and "exists already; use --force" in out
    assert (tmp_path / "key.pem").read_bytes() == first
    (tmp_path / "key.pem").chmod(0o644)                 # replaced, never inherits the mode
    assert _csr(tmp_path, "--force")[0] == 0
    assert (tmp_path / "key.pem").read_bytes() != first
    assert stat.S_IMODE(os.stat(tmp_path / "key.pem").st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_encrypted_key_with_passphrase_env(tmp_path: Path) -> None:
    code, out = _csr(tmp_path, "--passphrase-env", "NEW_KEY_PW", env={"NEW_KEY_PW": "s3cret"})
    assert code == 0 and "encrypted" in out and "s3cret" not in out
    data = (tmp_path / "key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in data
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, None)
    serialization.load_pem_private_key(data, b"s3cret")
    code, out = _csr(tmp_path / "x", "--passphrase-env", "UNSET_VAR_FOR_TEST", env={})
    assert code == 2 and "UNSET_VAR_FOR_TEST" in out


@pytest.mark.parametrize("args,message", [
    (("--oin", "1234"), "--oin must be 20 characters"),
    (("--oin", "0000000700025be00000"), "--oin must be 20 characters"),   # lower case
    (("--cn", "not a host"), "--cn must be a host name"),
    (("--key-size", "1024"), "1024"),
])
def test_invalid_arguments(tmp_path: Path, args: tuple[str, str], message: str) -> None:
    base = {"--oin": SAAS_OIN, "--org": "Org", "--cn": "a.example.nl",
            "--key-out": str(tmp_path / "k.pem"), "--csr-out": str(tmp_path / "r.csr")}
    base[args[0]] = args[1]
    result = CliRunner().invoke(cli, ["cert", "csr", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "k.pem").exists()
