"""The Edukoppeling WUS profile's WS-Security constants and the parts it signs.

A leaf shared by the signer (:mod:`adapter.duo.wsse`) and the verifier
(:mod:`adapter.duo.wsse_verify`): algorithm URIs, the parts DUO demands signed in
a request and in a response, where each part sits in an envelope, and the
exclusive C14N form and digest every reference is computed over.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Final

from lxml import etree

from adapter.duo.contract import SOAP11_NS, WSA_NS, WSSE_NS, WSU_NS

DS_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
X509V3: Final = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-x509-token-profile-1.0#X509v3")
BASE64_BINARY: Final = ("http://docs.oasis-open.org/wss/2004/01/"
                        "oasis-200401-wss-soap-message-security-1.0#Base64Binary")
WSU_ID: Final = f"{{{WSU_NS}}}Id"

#: Parts DUO demands signed in a request, and in a response (Timestamp and BST always).
REQUEST_PARTS: Final = ("Body", "Timestamp", "BinarySecurityToken",
                        "To", "Action", "MessageID", "From")
RESPONSE_PARTS: Final = ("Body", "Timestamp", "BinarySecurityToken",
                         "Action", "MessageID", "From", "RelatesTo")


def q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


# ---- locating the parts ---------------------------------------------------------------

def security_header(envelope: etree._Element) -> list[etree._Element]:
    """Every ``wsse:Security`` element directly under ``soapenv:Header``."""
    header = envelope.find(q(SOAP11_NS, "Header"))
    return [] if header is None else header.findall(q(WSSE_NS, "Security"))


def part_elements(envelope: etree._Element) -> dict[str, list[etree._Element]]:
    """The signable parts of an envelope by name, at the positions the profile puts them.

    ``Body``; ``Timestamp`` and ``BinarySecurityToken`` inside ``wsse:Security``; each
    WS-Addressing header under ``soapenv:Header`` by local name (``To``, ``From``, …).
    Lists, so a caller can see duplicates.
    """
    found: dict[str, list[etree._Element]] = {}
    for body in envelope.findall(q(SOAP11_NS, "Body")):
        found.setdefault("Body", []).append(body)
    header = envelope.find(q(SOAP11_NS, "Header"))
    if header is None:
        return found
    for child in header:
        if isinstance(child.tag, str) and child.tag.startswith(f"{{{WSA_NS}}}"):
            found.setdefault(etree.QName(child).localname, []).append(child)
    for security in header.findall(q(WSSE_NS, "Security")):
        for name, ns in (("Timestamp", WSU_NS), ("BinarySecurityToken", WSSE_NS)):
            found.setdefault(name, []).extend(security.findall(q(ns, name)))
    return {name: els for name, els in found.items() if els}


# ---- canonical form and digests -------------------------------------------------------

def inclusive_prefixes(element: etree._Element) -> list[str]:
    """Prefixes in scope at ``element``'s parent (WSS4J's InclusiveNamespaces list)."""
    parent = element.getparent()
    if parent is None:
        return []
    return sorted(p if p is not None else "#default" for p in parent.nsmap)


def canonical(element: etree._Element, prefixes: Sequence[str] = ()) -> bytes:
    """Exclusive C14N (without comments) of ``element`` in its document context."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False,
                          inclusive_ns_prefixes=list(prefixes) or None)


def digest(element: etree._Element, prefixes: Sequence[str] = ()) -> str:
    """Base64 SHA-256 of the canonical form."""
    return base64.b64encode(hashlib.sha256(canonical(element, prefixes)).digest()).decode()


def utc_stamp(moment: datetime) -> str:
    """``2025-03-10T09:15:00.000Z`` (WS-Security wants UTC)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def wsu_ids(doc: etree._Element) -> dict[str, list[etree._Element]]:
    """Every element of ``doc``'s document that has a ``wsu:Id``, by that id (a list per
    id, so callers see duplicates). One walk of the document for all of a signature's
    references: a walk per reference was a seventh of signing and a third of verifying."""
    found = doc.xpath("//*[@wsu:Id]", namespaces={"wsu": WSU_NS})
    by_id: dict[str, list[etree._Element]] = {}
    for element in found if isinstance(found, list) else ():
        if isinstance(element, etree._Element):
            by_id.setdefault(str(element.get(WSU_ID)), []).append(element)
    return by_id
