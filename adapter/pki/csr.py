"""``cert csr``: a fresh RSA key and a PKCS#10 request with the PKIoverheid subject.

Subject: ``C=NL, O=<organisation>, CN=<host>, serialNumber=<OIN>`` (Digikoppeling
PKI001: the OIN goes in serialNumber), signed with SHA-256. The key file is
created mode 0600 by ``os.open`` (never chmod-ed afterwards) and, unless
``force``, must not exist yet (``O_EXCL``); with a passphrase the key is stored
encrypted (PKCS#8, best available encryption).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from adapter.errors import ConfigError

KEY_SIZES = (2048, 3072, 4096)
_OIN = re.compile(r"[0-9A-Z]{20}")
# a host name (FQDN) for CN; PKIoverheid server certificates want the server's name
_HOST = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


@dataclass(frozen=True)
class CsrResult:
    key_path: Path
    csr_path: Path
    subject: str


def _write_new(path: Path, data: bytes, *, mode: int, force: bool) -> None:
    """Create ``path`` with ``mode`` from the first byte; O_EXCL unless ``force``.

    With ``force`` the file is written to a fresh temp name and renamed over the
    old one, so a replaced key is never briefly readable with the old mode.
    """
    target = path
    if force:
        path = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise ConfigError(f"{path} exists already; use --force to replace it") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be created ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if force:
            os.replace(path, target)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def make_csr(*, oin: str, organisation: str, common_name: str, key_out: Path, csr_out: Path,
             key_size: int = 2048, passphrase: bytes | None = None,
             force: bool = False) -> CsrResult:
    """Generate the key and the CSR and write both; return the paths and subject.

    Raises ConfigError for a bad OIN, key size, organisation or host name, or
    when an output file exists (without ``force``).
    """
    if not _OIN.fullmatch(oin):
        raise ConfigError("--oin must be 20 characters of 0-9 and A-Z (e.g. 00000003<KvK>0000)")
    if key_size not in KEY_SIZES:
        raise ConfigError(f"--key-size must be one of {', '.join(map(str, KEY_SIZES))}")
    if not organisation.strip() or len(organisation) > 64:
        raise ConfigError("--org must be the legal name, 1 to 64 characters")
    if not _HOST.fullmatch(common_name) or len(common_name) > 64:
        raise ConfigError("--cn must be a host name (FQDN) of at most 64 characters")
    key_out, csr_out = Path(key_out), Path(csr_out)
    if not force:
        for path in (key_out, csr_out):
            if path.exists():
                raise ConfigError(f"{path} exists already; use --force to replace it")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation.strip()),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, oin),
    ])
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(subject)
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name.rstrip("."))]),
                          critical=False)
           .sign(key, hashes.SHA256()))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    _write_new(key_out, key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8, encryption),
               mode=0o600, force=force)
    _write_new(csr_out, csr.public_bytes(serialization.Encoding.PEM), mode=0o644, force=force)
    return CsrResult(key_path=key_out, csr_path=csr_out,
                     subject=subject.rfc4514_string({NameOID.SERIAL_NUMBER: "serialNumber"}))


NEXT_STEPS = """\
Next steps:
  1. Order a PKIoverheid Private Services (G1) server certificate at a TSP
     (e.g. KPN, DigiCert/QuoVadis, Digidentity) and upload {csr} as the CSR.
     Keep {key} on this server; never send it anywhere.
  2. When the TSP delivers the certificate, send its public part (.cer/.crt)
     zipped, with DUO's filled-in sjabloon, to verzuim@duo.nl; wait for DUO's
     confirmation.
  3. Install the certificate with the TSP's intermediates (leaf first) as
     duo.client_cert and this key as duo.client_key, then run
     `verzuim-adapter cert check` (exit 0 = usable). See docs/certificates.md."""
