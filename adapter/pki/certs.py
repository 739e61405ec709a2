"""Reading certificates and keys: chains, the OIN, expiry and key-file permissions.

Small, pure helpers used by the DUO client, ``cert check`` and the simulator.
Errors are :class:`~adapter.errors.ConfigError` naming the file, never its
content.
"""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from adapter.errors import ConfigError


def load_pem_chain(path: Path) -> list[x509.Certificate]:
    """Load every certificate in a PEM file, in file order (leaf first for a chain file).

    Raises ConfigError when the file cannot be read or holds no PEM certificate.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"certificate file {path} cannot be read ({exc.strerror})") from exc
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(f"certificate file {path} holds no valid PEM certificate") from exc
    if not certs:
        raise ConfigError(f"certificate file {path} holds no valid PEM certificate")
    return certs


def read_oin(cert: x509.Certificate) -> str | None:
    """The OIN of a PKIoverheid certificate: its subject serialNumber, or None when absent."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("ascii", "replace")


def check_key_permissions(path: Path) -> None:
    """Refuse a private key file that group or others can access (mode & 0o077).

    Raises ConfigError when the file is missing or too open.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(f"private key file {path} cannot be read ({exc.strerror})") from exc
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(
            f"private key file {path} is readable by group or others; chmod 600 it")


def days_left(cert: x509.Certificate, now: datetime | None = None) -> int:
    """Whole days until ``cert`` expires (negative once expired; floor of the difference)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return (cert.not_valid_after_utc - now).days
