"""How the simulator reads bytes: one safe parser, the names it looks for, OINs.

Everything the simulator shares with the client is the service contract
(:mod:`adapter.duo.contract`: namespaces, operation names, fault codes, the
WSDL/XSD). The rest of what it needs to read a message is here, written from
``reference/duo-verzuim.md`` §3 and the standards it cites.
"""

from __future__ import annotations

import threading
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from adapter.duo import contract as c

#: XML-DSig (the ds: elements of a WS-Security signature).
DS_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
WSU_ID: Final = f"{{{c.WSU_NS}}}Id"

_PARSERS = threading.local()


def parser() -> etree.XMLParser:
    """One safe parser per thread: no DTD loading, no entities, no network, no huge trees.

    (An lxml parser must not be shared between threads.)"""
    found = getattr(_PARSERS, "parser", None)
    if found is None:
        found = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
            remove_blank_text=False, remove_comments=False)
    return found


def q(ns: str, name: str) -> str:
    """Clark notation: ``{ns}name``."""
    return f"{{{ns}}}{name}"


def vz(name: str) -> str:
    """An element of the message schema (``vz:``)."""
    return q(c.SCHEMA_NS, name)


def text_of(parent: etree._Element, name: str) -> str | None:
    """The stripped text of ``parent``'s ``vz:name`` child, or None when absent or empty."""
    found = parent.find(vz(name))
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def certificate_oin(cert: x509.Certificate) -> str | None:
    """The OIN a PKIoverheid certificate carries: its subject serialNumber (§3.5, PKI001).

    Returns None when it is absent or not 20 of ``[0-9A-Z]`` (§3.6)."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(attrs) != 1:
        return None
    value = attrs[0].value
    text = value if isinstance(value, str) else value.decode("ascii", "replace")
    return text if c.OIN_RE.match(text) else None


def der_oin(der: bytes | None) -> str | None:
    """:func:`certificate_oin` of a DER certificate (the TLS peer's), None when unreadable."""
    if not der:
        return None
    try:
        return certificate_oin(x509.load_der_x509_certificate(der))
    except ValueError:
        return None
