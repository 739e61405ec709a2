"""Loading our identity: PEM and PKCS#12, passphrases, permissions, mismatches, TLS."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapter.config import DuoSettings
from adapter.duo.transport import build_ssl_context
from adapter.errors import ConfigError
from adapter.pki.certs import load_pem_chain, read_oin
from adapter.pki.identity import (Credentials, load_credentials, load_identity, read_passphrase,
                                  uses_legacy_encryption)
from adapter.pki.testpki import DUO_OIN, issue_leaf

from .conftest import OIN, PASSPHRASE, write_secret

PW = PASSPHRASE.encode()


def _duo(pki: Path, **kw: object) -> DuoSettings:
    values: dict[str, object] = {"ca_bundle": pki / "trust-bundle.pem",
                                 "client_cert": pki / "school.pem",
                                 "client_key": pki / "school-key.pem"}
    values.update(kw)
    return DuoSettings(**values)  # type: ignore[arg-type]


def test_pem_identity(pki: Path) -> None:
    ident = load_identity(pki / "school.pem", pki / "school-key.pem", None)
    chain = load_pem_chain(pki / "school.pem")
    assert ident.certificate == chain[0] and ident.chain == tuple(chain)
    assert ident.oin == OIN and ident.source == pki / "school.pem"
    assert ident.private_key.public_key() == chain[0].public_key()
    assert "PRIVATE" not in repr(ident) and "school.pem" in repr(ident)


def test_leaf_is_the_certificate_matching_the_key(pki: Path, tmp_path: Path) -> None:
    chain = load_pem_chain(pki / "school.pem")
    shuffled = tmp_path / "shuffled.pem"
    shuffled.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                                  for c in (chain[1], chain[0], chain[2])))
    ident = load_identity(shuffled, pki / "school-key.pem", None)
    assert ident.chain == (chain[0], chain[1], chain[2])


def test_combined_pem_without_key_path(pki: Path, tmp_path: Path) -> None:
    combined = write_secret(tmp_path / "both.pem", (pki / "school.pem").read_bytes()
                            + (pki / "school-key.pem").read_bytes())
    assert load_identity(combined, None, None).oin == OIN


def test_encrypted_pem_with_passphrase_from_env(pki: Path) -> None:
    duo = _duo(pki, client_key=pki / "school-key-enc.pem", key_passphrase_env="SCHOOL_KEY_PW")
    assert read_passphrase(duo, {"SCHOOL_KEY_PW": PASSPHRASE}) == PW
    creds = load_credentials(duo, environ={"SCHOOL_KEY_PW": PASSPHRASE})
    assert isinstance(creds, Credentials) and creds.signing is creds.tls
    assert creds.tls.oin == OIN
    with pytest.raises(ConfigError, match="SCHOOL_KEY_PW, which is not set"):
        load_credentials(duo, environ={})


def test_passphrase_from_file(pki: Path, tmp_path: Path) -> None:
    pw_file = write_secret(tmp_path / "pw", PW + b"\n")
    duo = _duo(pki, client_cert=pki / "school-pw.p12", key_passphrase_file=pw_file)
    assert read_passphrase(duo, {}) == PW          # trailing newline dropped
    assert load_credentials(duo, environ={}).tls.oin == OIN
    pw_file.chmod(0o640)
    with pytest.raises(ConfigError, match=r"passphrase file .* readable by group or others"):
        load_credentials(duo, environ={})
    with pytest.raises(ConfigError, match="only one of"):
        read_passphrase(_duo(pki, key_passphrase_file=pw_file, key_passphrase_env="X"), {"X": "y"})
    assert read_passphrase(_duo(pki), {"X": "y"}) is None


def test_wrong_or_missing_passphrase_pem(pki: Path) -> None:
    key = pki / "school-key-enc.pem"
    with pytest.raises(ConfigError, match="passphrase is wrong") as exc:
        load_identity(pki / "school.pem", key, b"wrong")
    assert "wrong" not in str(exc.value).replace("is wrong", "")   # the passphrase is not echoed
    with pytest.raises(ConfigError, match="encrypted and no passphrase is configured"):
        load_identity(pki / "school.pem", key, None)
    # an unencrypted key with a passphrase configured (e.g. for the signing key) still loads
    assert load_identity(pki / "school.pem", pki / "school-key.pem", PW).oin == OIN


def test_pkcs12_with_and_without_passphrase(pki: Path, tmp_path: Path) -> None:
    plain = load_identity(pki / "school.p12", pki / "ignored-key.pem", None)
    assert plain.oin == OIN and len(plain.chain) == 3
    protected = load_identity(pki / "school-pw.p12", None, PW)
    assert protected.certificate == plain.certificate and protected.chain == plain.chain
    # sniffed as PKCS#12 by content, whatever the suffix
    sniffed = write_secret(tmp_path / "identity.bin", (pki / "school-pw.p12").read_bytes())
    assert load_identity(sniffed, None, PW).oin == OIN
    with pytest.raises(ConfigError, match="passphrase is wrong"):
        load_identity(pki / "school-pw.p12", None, b"wrong")
    with pytest.raises(ConfigError, match="needs a passphrase and none is configured"):
        load_identity(pki / "school-pw.p12", None, None)


def test_group_readable_keys_refused(pki: Path, tmp_path: Path) -> None:
    key = write_secret(tmp_path / "k.pem", (pki / "school-key.pem").read_bytes(), 0o640)
    with pytest.raises(ConfigError, match=r"k.pem is readable by group or others; chmod 600"):
        load_identity(pki / "school.pem", key, None)
    p12 = write_secret(tmp_path / "s.p12", (pki / "school.p12").read_bytes(), 0o604)
    with pytest.raises(ConfigError, match="readable by group or others"):
        load_identity(p12, None, None)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_identity(pki / "school.pem", tmp_path / "missing.pem", None)


def test_key_not_matching_certificate(pki: Path) -> None:
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        load_identity(pki / "school.pem", pki / "duo-key.pem", None)
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        load_identity(pki / "duo.pem", pki / "school-key.pem", None)


def test_only_rsa_keys(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "ec.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_secret(tmp_path / "ec-key.pem", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(ConfigError, match="not an RSA key"):
        load_identity(tmp_path / "ec.pem", tmp_path / "ec-key.pem", None)


def test_separate_signing_identity(pki: Path) -> None:
    now = datetime.now(UTC)
    cert, key = issue_leaf(pki, "signer", oin=OIN, not_before=now - timedelta(days=1),
                           not_after=now + timedelta(days=90))
    creds = load_credentials(_duo(pki, signing_cert=cert, signing_key=key), environ={})
    assert creds.signing is not creds.tls
    assert creds.signing.certificate.subject != creds.tls.certificate.subject
    with pytest.raises(ConfigError, match="signing_key is set without duo.signing_cert"):
        load_credentials(_duo(pki, signing_key=key), environ={})


# -- legacy PKCS#12 ---------------------------------------------------------------------

def _legacy_p12(pki: Path, target: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: cannot make an RC2 PKCS#12 file")
    result = subprocess.run(
        ["openssl", "pkcs12", "-export", "-legacy", "-certpbe", "PBE-SHA1-RC2-40",
         "-keypbe", "PBE-SHA1-3DES", "-in", str(pki / "school.pem"),
         "-inkey", str(pki / "school-key.pem"), "-out", str(target), "-passout", "pass:geheim"],
        capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        pytest.skip(f"this openssl cannot write RC2 PKCS#12: {result.stderr.strip()[:200]}")
    target.chmod(0o600)
    return target


def test_legacy_pkcs12_gives_the_reexport_recipe(pki: Path, tmp_path: Path) -> None:
    legacy = _legacy_p12(pki, tmp_path / "legacy.p12")
    assert uses_legacy_encryption(legacy.read_bytes())
    assert not uses_legacy_encryption((pki / "school-pw.p12").read_bytes())
    # An OpenSSL without the legacy provider (what cryptography does with
    # CRYPTOGRAPHY_OPENSSL_NO_LEGACY=1, and what distro OpenSSL 3 builds do).
    code = ("import sys; from pathlib import Path\n"
            "from adapter.errors import ConfigError\n"
            "from adapter.pki.identity import load_identity\n"
            "try:\n"
            "    load_identity(Path(sys.argv[1]), None, b'geheim')\n"
            "except ConfigError as exc:\n"
            "    print(exc); sys.exit(3)\n")
    env = {**os.environ, "CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "1"}
    result = subprocess.run([sys.executable, "-c", code, str(legacy)], env=env, cwd=Path.cwd(),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "uses legacy RC2/RC4 encryption" in result.stdout
    assert "openssl pkcs12 -export" in result.stdout and "-legacy" in result.stdout
    assert "AES-256-CBC" in result.stdout and "legacy.p12" in result.stdout
    # With the legacy provider loaded (cryptography's wheels) the same file is readable.
    assert load_identity(legacy, None, b"geheim").oin == OIN


# -- a real TLS handshake through Identity.load_into ---------------------------------------

def _server(pki: Path) -> tuple[socket.socket, dict[str, object], threading.Thread]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED            # the client certificate is required
    ctx.load_cert_chain(pki / "duo.pem", pki / "duo-key.pem")
    ctx.load_verify_locations(pki / "root-ca.pem")  # intermediates must come from the client
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    seen: dict[str, object] = {}

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with ctx.wrap_socket(conn, server_side=True) as tls:
                seen["oin"] = read_oin(x509.load_der_x509_certificate(
                    tls.getpeercert(binary_form=True)))
                tls.sendall(tls.recv(4))
        except Exception as exc:   # reported to the test thread
            seen["error"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, seen, thread


@pytest.mark.parametrize("cert,key,duo_kw", [
    ("school.pem", "school-key-enc.pem", {"key_passphrase_env": "PW"}),
    ("school-pw.p12", None, {"key_passphrase_env": "PW"}),
    ("school.p12", None, {}),
])
def test_load_into_real_handshake(pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  cert: str, key: str | None, duo_kw: dict[str, str]) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))   # to see what load_into leaves
    duo = _duo(pki, client_cert=pki / cert, client_key=pki / key if key else None, **duo_kw)
    identity = load_credentials(duo, environ={"PW": PASSPHRASE}).tls
    ctx = build_ssl_context(duo, identity)
    assert list(temp.iterdir()) == []                       # temp key file gone at once
    listener, seen, thread = _server(pki)
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"ping")
                assert tls.recv(4) == b"ping"
                assert read_oin(x509.load_der_x509_certificate(
                    tls.getpeercert(binary_form=True))) == DUO_OIN
    finally:
        thread.join(10)
        listener.close()
    assert "error" not in seen, seen.get("error")
    assert seen["oin"] == OIN


def test_handshake_fails_without_client_identity(pki: Path) -> None:
    """The server really requires the client certificate (so the test above means something)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki / "trust-bundle.pem")
    listener, seen, thread = _server(pki)
    try:
        with pytest.raises((ssl.SSLError, OSError)):
            with socket.create_connection(listener.getsockname(), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"ping")
                    tls.recv(4) or (_ for _ in ()).throw(ConnectionError("closed"))
    finally:
        thread.join(10)
        listener.close()
    assert "error" in seen
