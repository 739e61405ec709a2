"""A throw-away PKI shaped like PKIoverheid's Private Services hierarchy.

Four layers, like the real thing (``reference/duo-verzuim.md`` §3.5)::

    Test Staat der Nederlanden Private Root CA - G1        (root-ca.pem)
      └── Test Private Services CA - G1                    (domain CA)
            └── Test TSP PKIoverheid Private Services CA - G1   (TSP CA)
                  ├── DUO server/client cert (OIN 00000001800866472000)
                  └── school client/server cert (OIN = school_oin)

Files written by :func:`init_test_pki` (keys are created mode 0600 from the
first byte, never chmod-ed afterwards)::

    root-ca.pem        the root only (what a relying party pins)
    trust-bundle.pem   root + domain CA + TSP CA
    duo.pem            DUO leaf, then TSP CA, then domain CA;  duo-key.pem
    school.pem         school leaf, then TSP CA, then domain CA;  school-key.pem
    school.p12         school key + leaf + intermediates, no passphrase
    ca/*.pem           the CA certificates and keys (0600), used by issue_leaf

For tests and the demo only: the keys are unencrypted and the CAs live beside
their holders.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)

DUO_OIN = "00000001800866472000"
ROOT_CN = "Test Staat der Nederlanden Private Root CA - G1"
DOMAIN_CN = "Test Private Services CA - G1"
TSP_CN = "Test TSP PKIoverheid Private Services CA - G1"
SCHOOL_CN = "verzuim-adapter.test"

_CA_YEARS = 10
_LEAF_YEARS = 2
_CA_FILES = ("root", "domain", "tsp")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, org: str, serial: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
             x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if serial is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _ca_cert(subject: x509.Name, key: rsa.RSAPrivateKey, *, issuer: x509.Certificate | None,
             issuer_key: rsa.RSAPrivateKey, path_length: int | None) -> x509.Certificate:
    start = _now() - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * _CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _leaf_cert(subject: x509.Name, key: rsa.RSAPrivateKey, *, issuer: x509.Certificate,
               issuer_key: rsa.RSAPrivateKey, hosts: Sequence[str],
               not_before: datetime, not_after: datetime, crl_url: str | None = None,
               ocsp_url: str | None = None) -> x509.Certificate:
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if crl_url is not None:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None,
            reasons=None, crl_issuer=None)]), critical=False)
    if ocsp_url is not None:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write atomically via a fresh temp file created with its final mode.

    Secrets are created 0600 by ``os.open`` (never chmod-ed after the fact, so
    there is no moment they are readable by others); public files 0644 minus umask.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load_ca(directory: Path, name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    ca_dir = directory / "ca"
    cert = x509.load_pem_x509_certificate((ca_dir / f"{name}.pem").read_bytes())
    key = serialization.load_pem_private_key((ca_dir / f"{name}-key.pem").read_bytes(), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"CA key {name} is not an RSA key")
    return cert, key


def init_test_pki(directory: Path, *, school_oin: str = "00000099000000000001",
                  hosts: Sequence[str] = ("localhost", "127.0.0.1")) -> None:
    """Create (or overwrite) a complete test PKI in ``directory``.

    ``hosts`` become the DUO certificate's subjectAltNames (DNS names or IP
    addresses), so the simulator can serve TLS with ``duo.pem``. The school
    certificate carries ``school_oin`` as subject serialNumber.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_dir = directory / "ca"
    ca_dir.mkdir(mode=0o700, exist_ok=True)

    root_key, domain_key, tsp_key = _key(), _key(), _key()
    root = _ca_cert(_name(ROOT_CN, "Test Staat der Nederlanden"), root_key,
                    issuer=None, issuer_key=root_key, path_length=None)
    domain = _ca_cert(_name(DOMAIN_CN, "Test Staat der Nederlanden"), domain_key,
                      issuer=root, issuer_key=root_key, path_length=1)
    tsp = _ca_cert(_name(TSP_CN, "Test TSP B.V."), tsp_key,
                   issuer=domain, issuer_key=domain_key, path_length=0)
    for name, cert, key in (("root", root, root_key), ("domain", domain, domain_key),
                            ("tsp", tsp, tsp_key)):
        _write(ca_dir / f"{name}.pem", _pem(cert), secret=True)
        _write(ca_dir / f"{name}-key.pem", _key_pem(key), secret=True)
    _write(directory / "root-ca.pem", _pem(root))
    _write(directory / "trust-bundle.pem", _pem(root, domain, tsp))

    start = _now() - timedelta(days=1)
    end = start + timedelta(days=365 * _LEAF_YEARS)
    duo_key = _key()
    duo = _leaf_cert(_name("localhost", "Dienst Uitvoering Onderwijs", DUO_OIN), duo_key,
                     issuer=tsp, issuer_key=tsp_key, hosts=hosts, not_before=start,
                     not_after=end)
    _write(directory / "duo.pem", _pem(duo, tsp, domain))
    _write(directory / "duo-key.pem", _key_pem(duo_key), secret=True)

    school_key = _key()
    school = _leaf_cert(_name(SCHOOL_CN, "Test School", school_oin), school_key,
                        issuer=tsp, issuer_key=tsp_key, hosts=(SCHOOL_CN,),
                        not_before=start, not_after=end)
    _write(directory / "school.pem", _pem(school, tsp, domain))
    _write(directory / "school-key.pem", _key_pem(school_key), secret=True)
    p12 = pkcs12.serialize_key_and_certificates(b"school", school_key, school, [tsp, domain],
                                                serialization.NoEncryption())
    _write(directory / "school.p12", p12, secret=True)


def issue_leaf(directory: Path, name: str, *, oin: str | None, not_before: datetime,
               not_after: datetime, foreign: bool = False, crl_url: str | None = None,
               ocsp_url: str | None = None) -> tuple[Path, Path]:
    """Issue an extra holder certificate into ``directory``; return (cert path, key path).

    Writes ``<name>.pem`` (leaf, then the issuing chain without the root) and
    ``<name>-key.pem`` (0600). The subject is ``C=NL, O=Test School,
    CN=<name>.test`` plus ``serialNumber=<oin>`` when ``oin`` is given. Issued
    by the TSP CA of :func:`init_test_pki` (which must have run), or, with
    ``foreign=True``, by a fresh self-signed CA outside the trust bundle; that
    CA's certificate is written as ``<name>-ca.pem``. Useful for expired,
    not-yet-valid, OIN-less, other-OIN and untrusted certificates. ``crl_url`` and
    ``ocsp_url`` add a CRL distribution point and an OCSP responder (revocation tests).
    """
    directory = Path(directory)
    key = _key()
    subject = _name(f"{name}.test", "Test School", oin)
    if foreign:
        ca_key = _key()
        ca = _ca_cert(_name("Foreign Test CA", "Not PKIoverheid"), ca_key, issuer=None,
                      issuer_key=ca_key, path_length=0)
        leaf = _leaf_cert(subject, key, issuer=ca, issuer_key=ca_key, hosts=(f"{name}.test",),
                          not_before=not_before, not_after=not_after)
        chain = _pem(leaf)
        _write(directory / f"{name}-ca.pem", _pem(ca))
    else:
        tsp, tsp_key = _load_ca(directory, "tsp")
        domain, _ = _load_ca(directory, "domain")
        leaf = _leaf_cert(subject, key, issuer=tsp, issuer_key=tsp_key,
                          hosts=(f"{name}.test",), not_before=not_before, not_after=not_after,
                          crl_url=crl_url, ocsp_url=ocsp_url)
        chain = _pem(leaf, tsp, domain)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    _write(cert_path, chain)
    _write(key_path, _key_pem(key), secret=True)
    return cert_path, key_path


def reissue_duo(directory: Path, *, name: str = "duo",
                hosts: Sequence[str] = ("localhost", "127.0.0.1"),
                crl_url: str | None = None, ocsp_url: str | None = None) -> x509.Certificate:
    """Write ``<name>.pem``: a new DUO certificate (new serial) for the key ``duo-key.pem``.

    With ``name`` other than ``duo`` it is a separate TLS certificate for the
    simulator (``SimulatorServer(tls_cert=...)``) beside the signing ``duo.pem``.
    ``crl_url``/``ocsp_url`` as in :func:`issue_leaf`. Returns the leaf.
    """
    directory = Path(directory)
    tsp, tsp_key = _load_ca(directory, "tsp")
    domain, _ = _load_ca(directory, "domain")
    key = serialization.load_pem_private_key((directory / "duo-key.pem").read_bytes(), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("duo-key.pem is not an RSA key")
    start = _now() - timedelta(days=1)
    duo = _leaf_cert(_name("localhost", "Dienst Uitvoering Onderwijs", DUO_OIN), key,
                     issuer=tsp, issuer_key=tsp_key, hosts=hosts, not_before=start,
                     not_after=start + timedelta(days=365 * _LEAF_YEARS), crl_url=crl_url,
                     ocsp_url=ocsp_url)
    _write(directory / f"{name}.pem", _pem(duo, tsp, domain))
    return duo
