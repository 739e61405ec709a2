"""Our own certificate + private key ("identity"), read once from PEM or PKCS#12.

Contract:

- :func:`load_identity` reads a PEM chain file plus a PEM key file (encrypted
  or not), or a PKCS#12 file (``.p12``/``.pfx``, or sniffed: DER, not PEM)
  that holds the key itself; the key file (or PKCS#12 file) is refused when
  group or others can read it;
- only RSA keys (PKIoverheid Private Services); the key must belong to the
  leaf certificate; the leaf is the certificate matching the key, the rest of
  the file's certificates follow it in file order;
- every failure is a :class:`~adapter.errors.ConfigError` naming the file and
  the problem, never key material or the passphrase;
- the passphrase comes from the environment variable *named* by
  ``duo.key_passphrase_env`` or from ``duo.key_passphrase_file``, never from
  the configuration file itself (:func:`read_passphrase`);
- :meth:`Identity.load_into` puts the chain and key into an ``SSLContext``
  without the plaintext key ever touching the disk.
"""

from __future__ import annotations

import os
import secrets
import ssl
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from adapter.config import DuoSettings
from adapter.errors import ConfigError
from adapter.pki.certs import check_key_permissions, load_pem_chain, read_oin

PKCS12_SUFFIXES = (".p12", ".pfx")

# PKCS#12 PBE algorithms (RFC 7292 appendix C) that OpenSSL 3 only decrypts with
# its "legacy" provider: RC4-128/40 and RC2-128/40, DER OIDs
# 1.2.840.113549.1.12.1.{1,2,5,6} (3DES, .3/.4, is still in the default
# provider). The algorithm identifiers sit unencrypted in the file.
_LEGACY_PBE_OIDS = tuple(bytes.fromhex("060a2a864886f70d010c01") + bytes([n])
                         for n in (1, 2, 5, 6))

REEXPORT_RECIPE = (
    "re-export it with AES, in bash (the plaintext key only passes through pipes): "
    "`openssl pkcs12 -export -inkey <(openssl pkcs12 -legacy -in OLD.p12 -nodes -nocerts) "
    "-in <(openssl pkcs12 -legacy -in OLD.p12 -nokeys) -out NEW.p12 -keypbe AES-256-CBC "
    "-certpbe AES-256-CBC -macalg sha256`; see docs/certificates.md")


@dataclass(frozen=True)
class Identity:
    """A leaf certificate, the intermediates that came with it, and its RSA key."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]   # leaf first, then intermediates from the file
    private_key: rsa.RSAPrivateKey
    source: Path

    def __repr__(self) -> str:  # never show the key object's internals
        subject = self.certificate.subject.rfc4514_string()
        return f"Identity(subject={subject!r}, source={str(self.source)!r})"

    @property
    def oin(self) -> str | None:
        """The OIN in the leaf's subject serialNumber, or None."""
        return read_oin(self.certificate)

    def chain_pem(self) -> bytes:
        """The chain (leaf first) as PEM."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def load_into(self, ctx: ssl.SSLContext) -> None:
        """Load chain + key into ``ctx``; the plaintext key never reaches the disk.

        The key is serialised encrypted under a random one-time password into a
        temp file created 0600 (``mkstemp``), loaded with that password and
        unlinked at once. Raises ConfigError when OpenSSL refuses it.
        """
        password = secrets.token_bytes(32).hex().encode()
        key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password))
        fd, name = tempfile.mkstemp(prefix="verzuim-identity-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.chain_pem() + key_pem)
            ctx.load_cert_chain(certfile=name, keyfile=name, password=password)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"certificate {self.source} cannot be loaded into TLS "
                              f"({type(exc).__name__})") from exc
        finally:
            os.unlink(name)


@dataclass(frozen=True)
class Credentials:
    """The identity for two-way TLS and the one for WS-Security signatures."""

    tls: Identity
    signing: Identity    # the same object as ``tls`` unless duo.signing_cert is set


def read_passphrase(duo: DuoSettings, environ: Mapping[str, str]) -> bytes | None:
    """The key passphrase from ``environ[duo.key_passphrase_env]`` or ``duo.key_passphrase_file``.

    None when neither is configured. The file must not be readable by group or
    others; one trailing newline is dropped. Raises ConfigError when both are
    set, the variable is unset or empty, or the file is unsafe or unreadable.
    """
    if duo.key_passphrase_env and duo.key_passphrase_file:
        raise ConfigError("set only one of duo.key_passphrase_env and duo.key_passphrase_file")
    if duo.key_passphrase_env:
        value = environ.get(duo.key_passphrase_env)
        if not value:
            raise ConfigError(f"duo.key_passphrase_env names {duo.key_passphrase_env}, "
                              "which is not set or empty")
        return value.encode("utf-8")
    if duo.key_passphrase_file:
        path = Path(duo.key_passphrase_file)
        try:
            mode = os.stat(path).st_mode
            if stat.S_IMODE(mode) & 0o077:
                raise ConfigError(f"passphrase file {path} is readable by group or others; "
                                  "chmod 600 it")
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"passphrase file {path} cannot be read ({exc.strerror})") from exc
        data = data[:-1] if data.endswith(b"\n") else data
        data = data[:-1] if data.endswith(b"\r") else data
        if not data:
            raise ConfigError(f"passphrase file {path} is empty")
        return data
    return None


def is_pkcs12(path: Path, data: bytes) -> bool:
    """PKCS#12 by suffix, or by content: DER (starts with SEQUENCE) rather than PEM text."""
    if path.suffix.lower() in PKCS12_SUFFIXES:
        return True
    return data[:1] == b"\x30" and b"-----BEGIN" not in data


def uses_legacy_encryption(data: bytes) -> bool:
    """True when a PKCS#12 file names an RC2 or RC4 PBE algorithm (OpenSSL 3: legacy only)."""
    return any(oid in data for oid in _LEGACY_PBE_OIDS)


def _legacy_provider_loaded() -> bool:
    # Private attribute of cryptography's bindings; assume "loaded" if it moves.
    from cryptography.hazmat.bindings._rust import openssl as rust_openssl
    return bool(getattr(rust_openssl, "_legacy_provider_loaded", True))


def read_bytes(path: Path, what: str) -> bytes:
    """The file's bytes; ConfigError naming ``what`` and the path when unreadable."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror})") from exc


def _rsa(key: object, path: Path) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"private key in {path} is not an RSA key "
                          "(PKIoverheid Private Services certificates use RSA)")
    return key


def _load_pem_key(path: Path, passphrase: bytes | None) -> rsa.RSAPrivateKey:
    check_key_permissions(path)
    data = read_bytes(path, "private key file")
    if b"-----BEGIN" not in data or b"PRIVATE KEY-----" not in data:
        raise ConfigError(f"private key file {path} holds no PEM private key")
    encrypted = b"ENCRYPTED" in data
    if encrypted and passphrase is None:
        raise ConfigError(f"private key file {path} is encrypted and no passphrase is "
                          "configured (duo.key_passphrase_env or duo.key_passphrase_file)")
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except ValueError as exc:
        if encrypted:
            raise ConfigError(f"private key file {path}: the passphrase is wrong") from None
        raise ConfigError(f"private key file {path} holds no valid PEM private key") from exc
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"private key file {path} cannot be read ({type(exc).__name__})") from exc
    return _rsa(key, path)


def _order(certs: list[x509.Certificate], key: rsa.RSAPrivateKey, cert_path: Path,
           key_path: Path) -> tuple[x509.Certificate, ...]:
    """Leaf (the certificate whose public key matches) first, then the rest in file order."""
    public = key.public_key()
    for i, cert in enumerate(certs):
        if cert.public_key() == public:
            return (cert, *certs[:i], *certs[i + 1:])
    raise ConfigError(f"private key {key_path} does not belong to the certificate in {cert_path}")


def _load_pkcs12(path: Path, data: bytes, passphrase: bytes | None) -> Identity:
    check_key_permissions(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError:
        if uses_legacy_encryption(data) and not _legacy_provider_loaded():
            raise ConfigError(f"PKCS#12 file {path} uses legacy RC2/RC4 encryption that "
                              f"this OpenSSL cannot read; {REEXPORT_RECIPE}") from None
        if passphrase is None:
            raise ConfigError(f"PKCS#12 file {path} needs a passphrase and none is configured "
                              "(duo.key_passphrase_env or duo.key_passphrase_file), or it is "
                              "not a valid PKCS#12 file") from None
        raise ConfigError(f"PKCS#12 file {path}: the passphrase is wrong "
                          "(or the file is not valid PKCS#12)") from None
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"PKCS#12 file {path} cannot be read ({type(exc).__name__})") from exc
    if key is None or cert is None:
        raise ConfigError(f"PKCS#12 file {path} must hold both the certificate and its key")
    rsa_key = _rsa(key, path)
    if cert.public_key() != rsa_key.public_key():
        raise ConfigError(f"the key in PKCS#12 file {path} does not belong to its certificate")
    return Identity(certificate=cert, chain=(cert, *extra), private_key=rsa_key, source=path)


def load_identity(cert: Path, key: Path | None, passphrase: bytes | None) -> Identity:
    """Read a certificate chain and its private key (PEM pair or one PKCS#12 file).

    For PKCS#12, ``key`` is ignored (the key is inside). For PEM with ``key``
    None, the key is looked for in ``cert`` itself (a combined PEM file, which
    must then be mode 0600). Raises ConfigError (see the module contract).
    """
    cert = Path(cert)
    data = read_bytes(cert, "certificate file")
    if is_pkcs12(cert, data):
        return _load_pkcs12(cert, data, passphrase)
    key_path = Path(key) if key is not None else cert
    certs = load_pem_chain(cert)
    private_key = _load_pem_key(key_path, passphrase)
    chain = _order(certs, private_key, cert, key_path)
    return Identity(certificate=chain[0], chain=chain, private_key=private_key, source=cert)


def load_credentials(duo: DuoSettings, *, environ: Mapping[str, str]) -> Credentials:
    """The TLS identity (``client_cert``/``client_key``) and the signing identity.

    The signing identity is ``signing_cert``/``signing_key`` when
    ``signing_cert`` is set, else the TLS identity itself. One passphrase
    (:func:`read_passphrase`) serves both.
    """
    passphrase = read_passphrase(duo, environ)
    tls = load_identity(duo.client_cert, duo.client_key, passphrase)
    if duo.signing_cert is None:
        if duo.signing_key is not None:
            raise ConfigError("duo.signing_key is set without duo.signing_cert")
        return Credentials(tls=tls, signing=tls)
    signing = load_identity(duo.signing_cert, duo.signing_key, passphrase)
    return Credentials(tls=tls, signing=signing)
