"""The Edukoppeling WUS signing profile as the simulator enforces it, written from the notes.

Source: ``reference/duo-verzuim.md`` §3.3 (RIO PvE §6.4.3/§6.4.7, Digikoppeling
WB001–WB014; [F]): one ``wsse:Security`` header with a ``wsu:Timestamp`` (Created
mandatory, Expires optional), a ``wsse:BinarySecurityToken`` (X509v3,
Base64Binary) that ``ds:KeyInfo`` references directly and that is itself signed,
and one ``ds:Signature`` with a separate ``ds:Reference`` per part. Exclusive C14N,
SHA-256 digests, RSA-SHA256 signatures; SHA-1 refused.

These lists are the simulator's own reading of the profile, deliberately not
imported from the client's signer: if the client stops signing a part, the
simulator refuses it (EK0031), as DUO would.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from adapter.duo import contract as c
from adapter.simulator.wire import q

EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
X509V3: Final = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-x509-token-profile-1.0#X509v3")
BASE64_BINARY: Final = ("http://docs.oasis-open.org/wss/2004/01/"
                        "oasis-200401-wss-soap-message-security-1.0#Base64Binary")

#: Parts a request must have signed: Body, Timestamp, the token (DUO: "the BST must be
#: part of the signing" [F]) and each WS-Addressing header the request must carry
#: (To, Action, MessageID, From: §3.2/§3.3 [F]). Any other WSA header present (ReplyTo)
#: must be signed too.
REQUEST_MUST_SIGN: Final = ("Body", "Timestamp", "BinarySecurityToken",
                            "To", "Action", "MessageID", "From")
#: Parts the simulator signs in its answers (faults included): the same, with
#: RelatesTo (§3.3: "RelatesTo in responses") — every WSA header it writes.
ANSWER_SIGNS: Final = ("Body", "Timestamp", "BinarySecurityToken",
                       "To", "Action", "MessageID", "RelatesTo", "From")
#: Every WS-Addressing header name the profile knows.
WSA_HEADERS: Final = ("To", "Action", "MessageID", "From", "RelatesTo", "ReplyTo", "FaultTo")


def security_headers(envelope: etree._Element) -> list[etree._Element]:
    """Each ``wsse:Security`` block directly under ``soapenv:Header``."""
    header = envelope.find(q(c.SOAP11_NS, "Header"))
    return [] if header is None else header.findall(q(c.WSSE_NS, "Security"))


def parts_at_their_places(envelope: etree._Element) -> dict[str, list[etree._Element]]:
    """Signable parts where the profile puts them, by name (lists: duplicates show).

    Body under Envelope; WSA headers under Header; Timestamp and token inside
    ``wsse:Security``. A copy of a part elsewhere (signature wrapping) is not found.
    """
    found: dict[str, list[etree._Element]] = {}
    for body in envelope.findall(q(c.SOAP11_NS, "Body")):
        found.setdefault("Body", []).append(body)
    header = envelope.find(q(c.SOAP11_NS, "Header"))
    if header is None:
        return found
    for child in header:
        if isinstance(child.tag, str) and etree.QName(child).namespace == c.WSA_NS:
            found.setdefault(etree.QName(child).localname, []).append(child)
    for security in header.findall(q(c.WSSE_NS, "Security")):
        found.setdefault("Timestamp", []).extend(security.findall(q(c.WSU_NS, "Timestamp")))
        found.setdefault("BinarySecurityToken", []).extend(
            security.findall(q(c.WSSE_NS, "BinarySecurityToken")))
    return {name: els for name, els in found.items() if els}
