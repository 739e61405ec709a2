"""The generated test PKI: chain, subjects, OINs, key modes, openssl and a real TLS handshake."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapter.errors import ConfigError
from adapter.pki import (DUO_OIN, check_key_permissions, days_left, init_test_pki, issue_leaf,
                         load_pem_chain, read_oin)

SCHOOL_OIN = "0000000700025BE00000"  # letters allowed: a BRIN-based OIN


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki") / "nested" / "pki"  # parents created
    init_test_pki(directory, school_oin=SCHOOL_OIN)
    return directory


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)  # issuer name match + signature
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def test_chain_files_are_leaf_then_intermediates_and_verify(pki: Path) -> None:
    root = load_pem_chain(pki / "root-ca.pem")
    bundle = load_pem_chain(pki / "trust-bundle.pem")
    assert len(root) == 1 and root[0] == bundle[0] and len(bundle) == 3
    root_ca, domain, tsp = bundle
    assert root_ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "Test Staat der Nederlanden Private Root CA - G1"
    assert _signed_by(root_ca, root_ca)
    assert _signed_by(domain, root_ca) and _signed_by(tsp, domain)
    for name in ("duo.pem", "school.pem"):
        chain = load_pem_chain(pki / name)
        assert len(chain) == 3
        assert chain[1] == tsp and chain[2] == domain
        assert _signed_by(chain[0], tsp)
        assert not _signed_by(chain[0], domain)
        bc = chain[0].extensions.get_extension_for_class(x509.BasicConstraints).value
        assert bc.ca is False


def test_subjects_oins_and_usages(pki: Path) -> None:
    duo = load_pem_chain(pki / "duo.pem")[0]
    school = load_pem_chain(pki / "school.pem")[0]
    assert read_oin(duo) == DUO_OIN == "00000001800866472000"
    assert read_oin(school) == SCHOOL_OIN
    assert duo.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Dienst Uitvoering Onderwijs"
    assert school.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "verzuim-adapter.test"
    san = duo.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for cert in (duo, school):
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(eku)
        assert 700 <= days_left(cert) <= 731
        assert cert.not_valid_before_utc < datetime.now(timezone.utc) - timedelta(hours=23)
    assert days_left(load_pem_chain(pki / "root-ca.pem")[0]) > 3600


def test_key_files_are_0600_and_match(pki: Path) -> None:
    keys = ["duo-key.pem", "school-key.pem", "school.p12"] + \
        [f"ca/{n}" for n in os.listdir(pki / "ca")]
    assert len(keys) == 9
    for name in keys:
        assert stat.S_IMODE(os.stat(pki / name).st_mode) == 0o600, name
        check_key_permissions(pki / name)
    for name in ("duo", "school"):
        key = serialization.load_pem_private_key((pki / f"{name}-key.pem").read_bytes(), None)
        assert key.key_size == 2048  # type: ignore[union-attr]
        assert key.public_key() == load_pem_chain(pki / f"{name}.pem")[0].public_key()
    p12 = pkcs12.load_key_and_certificates((pki / "school.p12").read_bytes(), None)
    assert p12[1] == load_pem_chain(pki / "school.pem")[0]
    assert p12[2] == load_pem_chain(pki / "school.pem")[1:]


def test_init_is_idempotent_and_keeps_modes(tmp_path: Path) -> None:
    init_test_pki(tmp_path)
    (tmp_path / "duo-key.pem").chmod(0o644)  # an operator mistake...
    init_test_pki(tmp_path, hosts=("simulator.test",))
    # ...is not inherited: the key file is created fresh, 0600
    assert stat.S_IMODE(os.stat(tmp_path / "duo-key.pem").st_mode) == 0o600
    duo = load_pem_chain(tmp_path / "duo.pem")[0]
    san = duo.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["simulator.test"]
    assert read_oin(load_pem_chain(tmp_path / "school.pem")[0]) == "00000099000000000001"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_check_key_permissions_refuses_open_keys(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    check_key_permissions(key)
    key.chmod(0o640)
    with pytest.raises(ConfigError, match="readable by group or others; chmod 600 it"):
        check_key_permissions(key)
    with pytest.raises(ConfigError):
        check_key_permissions(tmp_path / "missing.pem")


def test_load_pem_chain_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="no valid PEM"):
        load_pem_chain(bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_pem_chain(tmp_path / "missing.pem")


def test_issue_leaf_variants(pki: Path) -> None:
    now = datetime.now(timezone.utc)
    cert_path, key_path = issue_leaf(pki, "expired", oin="00000099000000000002",
                                     not_before=now - timedelta(days=400),
                                     not_after=now - timedelta(days=5))
    chain = load_pem_chain(cert_path)
    assert read_oin(chain[0]) == "00000099000000000002"
    assert days_left(chain[0], now) < 0
    assert chain[1:] == load_pem_chain(pki / "trust-bundle.pem")[:0:-1]
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    no_oin, _ = issue_leaf(pki, "no-oin", oin=None, not_before=now - timedelta(days=1),
                           not_after=now + timedelta(days=30))
    assert read_oin(load_pem_chain(no_oin)[0]) is None
    foreign, _ = issue_leaf(pki, "foreign", oin=SCHOOL_OIN, not_before=now - timedelta(days=1),
                            not_after=now + timedelta(days=30), foreign=True)
    leaf = load_pem_chain(foreign)
    assert len(leaf) == 1
    tsp = load_pem_chain(pki / "trust-bundle.pem")[2]
    assert not _signed_by(leaf[0], tsp)
    assert _signed_by(leaf[0], load_pem_chain(pki / "foreign-ca.pem")[0])


def _split(pki: Path, name: str, tmp: Path) -> tuple[Path, Path]:
    chain = load_pem_chain(pki / name)
    leaf, inter = tmp / f"{name}.leaf", tmp / f"{name}.inter"
    leaf.write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
    inter.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain[1:]))
    return leaf, inter


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize("name,purpose", [("duo.pem", "sslserver"), ("school.pem", "sslclient"),
                                          ("duo.pem", "sslclient")])
def test_openssl_verify(pki: Path, tmp_path: Path, name: str, purpose: str) -> None:
    leaf, inter = _split(pki, name, tmp_path)
    result = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile",
         str(pki / "root-ca.pem"), "-untrusted", str(inter), str(leaf)],
        capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")
    # without the intermediates the chain is incomplete
    result = subprocess.run(["openssl", "verify", "-CAfile", str(pki / "root-ca.pem"),
                             str(leaf)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0


def _server_context(pki: Path, cafile: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.load_cert_chain(pki / "duo.pem", pki / "duo-key.pem")
    ctx.load_verify_locations(pki / cafile)
    return ctx


def _client_context(pki: Path, cert: str, key: str, cafile: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.load_verify_locations(pki / cafile)
    ctx.load_cert_chain(pki / cert, pki / key)
    return ctx


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext,
               server_hostname: str) -> tuple[str | None, Exception | None]:
    """One real TLS handshake over loopback; returns (client OIN seen by server, server error)."""
    seen: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(10)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    der = tls.getpeercert(binary_form=True)
                    seen["oin"] = read_oin(x509.load_der_x509_certificate(der))
                    tls.sendall(tls.recv(5))
            except Exception as exc:  # reported to the test thread
                seen["error"] = exc

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
                    tls.sendall(b"hallo")
                    assert tls.recv(5) == b"hallo"
                    assert read_oin(x509.load_der_x509_certificate(
                        tls.getpeercert(binary_form=True))) == DUO_OIN
        finally:
            thread.join(10)
    return seen.get("oin"), seen.get("error")  # type: ignore[return-value]


@pytest.mark.parametrize("cafile", ["trust-bundle.pem", "root-ca.pem"])
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_two_way_tls_handshake(pki: Path, cafile: str, host: str) -> None:
    oin, error = _handshake(_server_context(pki, cafile),
                            _client_context(pki, "school.pem", "school-key.pem", cafile), host)
    assert error is None
    assert oin == SCHOOL_OIN


def test_tls_refuses_foreign_and_expired_client(pki: Path) -> None:
    now = datetime.now(timezone.utc)
    issue_leaf(pki, "tls-foreign", oin=SCHOOL_OIN, not_before=now - timedelta(days=1),
               not_after=now + timedelta(days=30), foreign=True)
    issue_leaf(pki, "tls-expired", oin=SCHOOL_OIN, not_before=now - timedelta(days=40),
               not_after=now - timedelta(days=1))
    for name in ("tls-foreign", "tls-expired"):
        client = _client_context(pki, f"{name}.pem", f"{name}-key.pem", "trust-bundle.pem")
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            _handshake(_server_context(pki, "trust-bundle.pem"), client, "localhost")
