"""WS-Security as the Edukoppeling WUS profile (2W-be-S) wants it: signing.

Layout of what :func:`sign_envelope` adds (RIO PvE §6.4.3/§6.4.7, Digikoppeling
WB001–WB014; ``reference/duo-verzuim.md`` §3.3)::

    soapenv:Header
      wsse:Security soapenv:mustUnderstand="1"
        wsu:Timestamp wsu:Id    Created = now (UTC), Expires = now + ttl
        wsse:BinarySecurityToken wsu:Id   X509v3, Base64Binary: the signing certificate
        ds:Signature
          ds:SignedInfo         exc-c14n, rsa-sha256
            ds:Reference URI="#<id>"  one per part: exc-c14n transform, sha256 digest
          ds:SignatureValue
          ds:KeyInfo/wsse:SecurityTokenReference/wsse:Reference URI="#<bst id>"
      wsa:To/Action/MessageID/From(/RelatesTo)   each with its own wsu:Id, each signed
    soapenv:Body wsu:Id                           signed

Every part is canonicalised *in its document context* with exclusive C14N and
an ``InclusiveNamespaces`` prefix list naming the prefixes in scope at its
parent (as WSS4J does); the verifier honours whatever prefix list the signer
named. **Nothing may re-serialise the envelope after signing**: sign the final
tree as the very last step and send ``etree.tostring(tree)`` of exactly that
tree, never pretty-printed. The profile's constants and canonical forms live in
:mod:`adapter.duo.wsse_profile` (re-exported here); verification in
:mod:`adapter.duo.wsse_verify`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from adapter.duo.contract import SOAP11_NS, WSSE_NS, WSU_NS
from adapter.duo.wsse_profile import (
    BASE64_BINARY,
    DS_NS,
    EXC_C14N,
    REQUEST_PARTS,
    RESPONSE_PARTS,
    RSA_SHA256,
    SHA256,
    WSU_ID,
    X509V3,
    canonical,
    digest,
    inclusive_prefixes,
    part_elements,
    q,
    security_header,
    utc_stamp,
    wsu_ids,
)

_NSMAP: Final = {"wsse": WSSE_NS, "wsu": WSU_NS}
_ID_PREFIX: Final = {"Body": "Body", "Timestamp": "TS", "BinarySecurityToken": "X509"}


# ---- signing --------------------------------------------------------------------------

class EnvelopeSigner:
    """Signs envelopes with one key and certificate; immutable, safe across threads."""

    def __init__(self, private_key: rsa.RSAPrivateKey, certificate: x509.Certificate, *,
                 ttl_seconds: float = 300.0) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise TypeError("the signing key must be an RSA key (PKIoverheid)")
        self.private_key = private_key
        self.certificate = certificate
        self.ttl_seconds = ttl_seconds

    def sign(self, envelope: etree._Element, *, now: datetime | None = None,
             parts: Iterable[str] | None = None) -> etree._Element:
        """Sign ``envelope``; returns the envelope to send (see :func:`sign_envelope`)."""
        return sign_envelope(envelope, self.private_key, self.certificate,
                             ttl_seconds=self.ttl_seconds, now=now, parts=parts)


def sign_envelope(envelope: etree._Element, private_key: rsa.RSAPrivateKey,
                  certificate: x509.Certificate, *, ttl_seconds: float,
                  now: datetime | None = None, parts: Iterable[str] | None = None
                  ) -> etree._Element:
    """Add the ``wsse:Security`` header and ONE signature over ``parts``.

    ``parts`` defaults to every part present: Body, Timestamp, BinarySecurityToken
    and each WS-Addressing header. ``envelope`` itself is left alone: the result is
    a new, signed tree (a parsed copy declaring ``wsse``/``wsu`` on its root). Send
    *that* one, serialised once (``etree.tostring``, never pretty-printed),
    unchanged. Raises ValueError when the envelope is signed already or has no Body.
    """
    envelope = _fresh(_declare_namespaces(envelope))
    if security_header(envelope):
        raise ValueError("envelope already carries a wsse:Security header")
    if envelope.find(q(SOAP11_NS, "Body")) is None:
        raise ValueError("envelope has no Body")
    header = envelope.find(q(SOAP11_NS, "Header"))
    if header is None:
        header = etree.SubElement(envelope, q(SOAP11_NS, "Header"))
        envelope.insert(0, header)
    moment = now or datetime.now(timezone.utc)

    # SubElement (not Element): the tag reuses the root's ``wsse`` prefix.
    security = etree.SubElement(header, q(WSSE_NS, "Security"), nsmap={"ds": DS_NS})
    security.set(q(SOAP11_NS, "mustUnderstand"), "1")
    header.insert(0, security)      # first header block: processed before its uses
    timestamp = etree.SubElement(security, q(WSU_NS, "Timestamp"))
    etree.SubElement(timestamp, q(WSU_NS, "Created")).text = utc_stamp(moment)
    etree.SubElement(timestamp, q(WSU_NS, "Expires")).text = utc_stamp(
        moment + timedelta(seconds=ttl_seconds))
    token = etree.SubElement(security, q(WSSE_NS, "BinarySecurityToken"),
                             EncodingType=BASE64_BINARY, ValueType=X509V3)
    token.text = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    token_id = _give_id(token, "BinarySecurityToken")

    present = part_elements(envelope)
    wanted = list(parts) if parts is not None else list(present)
    target_ids = [_give_id(element, name)
                  for name in ("Body", *[n for n in present if n not in _ID_PREFIX],
                               "Timestamp", "BinarySecurityToken") if name in wanted
                  for element in present.get(name, [])]

    # Digests over a parsed tree, exactly what the receiver will canonicalise.
    envelope = _fresh(envelope)
    security = security_header(envelope)[0]
    signature = etree.SubElement(security, q(DS_NS, "Signature"))
    signed_info = etree.SubElement(signature, q(DS_NS, "SignedInfo"))
    _c14n_method(signed_info, "CanonicalizationMethod", inclusive_prefixes(signed_info))
    etree.SubElement(signed_info, q(DS_NS, "SignatureMethod"), Algorithm=RSA_SHA256)
    elements = wsu_ids(envelope)
    for target_id in target_ids:
        [element] = elements[target_id]
        prefixes = inclusive_prefixes(element)
        reference = etree.SubElement(signed_info, q(DS_NS, "Reference"), URI=f"#{target_id}")
        transforms = etree.SubElement(reference, q(DS_NS, "Transforms"))
        _c14n_method(transforms, "Transform", prefixes)
        etree.SubElement(reference, q(DS_NS, "DigestMethod"), Algorithm=SHA256)
        etree.SubElement(reference, q(DS_NS, "DigestValue")).text = digest(element, prefixes)
    etree.SubElement(signature, q(DS_NS, "SignatureValue"))
    key_info = etree.SubElement(signature, q(DS_NS, "KeyInfo"))
    str_el = etree.SubElement(key_info, q(WSSE_NS, "SecurityTokenReference"))
    etree.SubElement(str_el, q(WSSE_NS, "Reference"), URI=f"#{token_id}", ValueType=X509V3)

    # SignedInfo is final only now: parse once more, canonicalise it, and set the value
    # (text of a sibling: the canonical SignedInfo does not change).
    envelope = _fresh(envelope)
    signature = _child(security_header(envelope)[0], q(DS_NS, "Signature"))
    signed_info = _child(signature, q(DS_NS, "SignedInfo"))
    signed = canonical(signed_info, inclusive_prefixes(signed_info))
    _child(signature, q(DS_NS, "SignatureValue")).text = base64.b64encode(
        private_key.sign(signed, padding.PKCS1v15(), hashes.SHA256())).decode()
    return envelope


def _child(parent: etree._Element, tag: str) -> etree._Element:
    """The child we just wrote (a missing one is a bug here, not bad input)."""
    child = parent.find(tag)
    if child is None:
        raise AssertionError(f"{tag} vanished from the envelope being signed")
    return child


def _give_id(element: etree._Element, name: str) -> str:
    """``element``'s wsu:Id, set to a fresh one when it has none."""
    if element.get(WSU_ID) is None:
        element.set(WSU_ID, f"{_ID_PREFIX.get(name, name)}-{uuid.uuid4().hex}")
    return str(element.get(WSU_ID))


def _c14n_method(parent: etree._Element, tag: str, prefixes: Sequence[str]) -> None:
    method = etree.SubElement(parent, q(DS_NS, tag), Algorithm=EXC_C14N)
    if prefixes:
        etree.SubElement(method, q(EXC_C14N, "InclusiveNamespaces"),
                         nsmap={"ec": EXC_C14N}, PrefixList=" ".join(prefixes))


def _fresh(envelope: etree._Element) -> etree._Element:
    """A freshly parsed copy of ``envelope``.

    Nodes that lxml moved between documents (zeep builds the body apart and
    appends it; :func:`_declare_namespaces` moves children) keep stale namespace
    bookkeeping, and libxml2's exclusive C14N then leaves InclusiveNamespaces
    prefixes out: the digest would differ from what the receiver computes on the
    parsed bytes. Signing a parsed tree makes both sides canonicalise the same thing.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             remove_blank_text=False, remove_comments=False)
    return etree.fromstring(etree.tostring(envelope), parser)


def _declare_namespaces(envelope: etree._Element) -> etree._Element:
    """``envelope``, or a copy of its root element declaring ``wsse``/``wsu`` too.

    Without this, lxml would declare ``wsu`` (as ``ns0``) on every element that gets
    a ``wsu:Id``. Children are moved, not copied; call before anything is signed.
    """
    in_scope = set(envelope.nsmap.values())
    missing = {p: ns for p, ns in _NSMAP.items() if ns not in in_scope}
    if not missing:
        return envelope
    nsmap: dict[str | None, str] = dict(envelope.nsmap)
    for prefix, ns in missing.items():
        while prefix in nsmap:
            prefix += "1"
        nsmap[prefix] = ns
    attrib = {str(k): str(v) for k, v in envelope.attrib.items()}
    root = etree.Element(envelope.tag, attrib=attrib,
                         nsmap=nsmap)  # type: ignore[arg-type]  # lxml takes None: the default ns
    root.text = envelope.text
    for child in list(envelope):
        root.append(child)
    return root


__all__ = [
    "BASE64_BINARY", "DS_NS", "EXC_C14N", "EnvelopeSigner", "REQUEST_PARTS", "RESPONSE_PARTS",
    "RSA_SHA256", "SHA256", "X509V3", "canonical", "digest", "part_elements",
    "security_header", "sign_envelope",
]
