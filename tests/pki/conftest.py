"""Fixtures for the certificate tests: a private test PKI and key/PKCS#12 variants."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from adapter.pki.certs import load_pem_chain
from adapter.pki.testpki import init_test_pki

OIN = "00000099000000000001"
PASSPHRASE = "correct horse battery staple"


def write_secret(path: Path, data: bytes, mode: int = 0o600) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)
    return path


def _key(pki: Path, name: str):  # type: ignore[no-untyped-def]
    return serialization.load_pem_private_key((pki / f"{name}-key.pem").read_bytes(), None)


@pytest.fixture(scope="package")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test PKI of our own (we issue extra certificates into it) plus key variants:

    ``school-key-enc.pem`` (PEM key encrypted with PASSPHRASE) and
    ``school-pw.p12`` (PKCS#12 with PASSPHRASE, AES).
    """
    directory = tmp_path_factory.mktemp("pkitests")
    init_test_pki(directory, school_oin=OIN)
    key = _key(directory, "school")
    write_secret(directory / "school-key-enc.pem", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    chain = load_pem_chain(directory / "school.pem")
    write_secret(directory / "school-pw.p12", pkcs12.serialize_key_and_certificates(
        b"school", key, chain[0], chain[1:],
        serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    return directory
