"""Signing the simulator's answers as DUO signs its own (§3.3), with cryptography and lxml.

:class:`AnswerSigner` adds to an answer envelope::

    wsse:Security soapenv:mustUnderstand="1"        first header block
      wsu:Timestamp      Created = now, Expires = now + ttl (UTC, milliseconds)
      wsse:BinarySecurityToken   X509v3, Base64Binary: DUO's certificate
      ds:Signature       exc-c14n, rsa-sha256; one Reference (exc-c14n, sha256) per
                         part of :data:`~adapter.simulator.profile.ANSWER_SIGNS`
                         present; KeyInfo → SecurityTokenReference → the token

Every namespace is declared on the Envelope, the tree is serialised and parsed
once before anything is digested, and the caller sends exactly
:meth:`AnswerSigner.sign`'s bytes: the receiver canonicalises what we did.
No InclusiveNamespaces lists: exclusive C14N carries the prefixes each part uses.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from adapter.duo import contract as c
from adapter.simulator.profile import (
    ANSWER_SIGNS,
    BASE64_BINARY,
    EXC_C14N,
    RSA_SHA256,
    SHA256,
    X509V3,
    parts_at_their_places,
)
from adapter.simulator.wire import DS_NS, WSU_ID, parser, q

#: Prefixes the answers declare on their Envelope.
ANSWER_NSMAP = {"soapenv": c.SOAP11_NS, "wsa": c.WSA_NS, "wsse": c.WSSE_NS, "wsu": c.WSU_NS,
                "ds": DS_NS}


def _stamp(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _by_id(doc: etree._Element, part_id: str) -> etree._Element:
    """The one element with ``wsu:Id`` = ``part_id`` (we wrote it: anything else is a bug)."""
    found = [el for el in doc.iter() if isinstance(el.tag, str) and el.get(WSU_ID) == part_id]
    if len(found) != 1:
        raise AssertionError("a part to sign is not there exactly once")
    return found[0]


class AnswerSigner:
    """DUO's signing identity in the simulator; immutable, safe across threads."""

    def __init__(self, key: rsa.RSAPrivateKey, certificate: x509.Certificate, *,
                 ttl_seconds: float = 300.0) -> None:
        self.key = key
        self.certificate = certificate
        self.ttl_seconds = ttl_seconds
        self._token = base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)).decode()

    def sign(self, envelope: etree._Element, *, now: datetime | None = None) -> etree._Element:
        """A signed copy of ``envelope`` (which must declare :data:`ANSWER_NSMAP` on its root)."""
        doc = etree.fromstring(etree.tostring(envelope), parser())
        header = doc.find(q(c.SOAP11_NS, "Header"))
        if header is None:
            header = etree.Element(q(c.SOAP11_NS, "Header"))
            doc.insert(0, header)
        moment = now or datetime.now(timezone.utc)
        security = etree.Element(q(c.WSSE_NS, "Security"))
        security.set(q(c.SOAP11_NS, "mustUnderstand"), "1")
        header.insert(0, security)
        stamp = etree.SubElement(security, q(c.WSU_NS, "Timestamp"))
        etree.SubElement(stamp, q(c.WSU_NS, "Created")).text = _stamp(moment)
        etree.SubElement(stamp, q(c.WSU_NS, "Expires")).text = _stamp(
            moment + timedelta(seconds=self.ttl_seconds))
        token = etree.SubElement(security, q(c.WSSE_NS, "BinarySecurityToken"),
                                 EncodingType=BASE64_BINARY, ValueType=X509V3)
        token.text = self._token
        ids = []
        for name, elements in parts_at_their_places(doc).items():
            if name in ANSWER_SIGNS:
                for element in elements:
                    if element.get(WSU_ID) is None:
                        element.set(WSU_ID, f"{name}-{uuid.uuid4().hex}")
                    ids.append(str(element.get(WSU_ID)))
        token_id = str(token.get(WSU_ID))

        doc = etree.fromstring(etree.tostring(doc), parser())      # digest what is sent
        parsed = doc.find(f"{q(c.SOAP11_NS, 'Header')}/{q(c.WSSE_NS, 'Security')}")
        if parsed is None:
            raise AssertionError("the Security header vanished while signing")
        signature = etree.SubElement(parsed, q(DS_NS, "Signature"))
        info = etree.SubElement(signature, q(DS_NS, "SignedInfo"))
        etree.SubElement(info, q(DS_NS, "CanonicalizationMethod"), Algorithm=EXC_C14N)
        etree.SubElement(info, q(DS_NS, "SignatureMethod"), Algorithm=RSA_SHA256)
        for part_id in ids:
            element = _by_id(doc, part_id)
            reference = etree.SubElement(info, q(DS_NS, "Reference"), URI=f"#{part_id}")
            transforms = etree.SubElement(reference, q(DS_NS, "Transforms"))
            etree.SubElement(transforms, q(DS_NS, "Transform"), Algorithm=EXC_C14N)
            etree.SubElement(reference, q(DS_NS, "DigestMethod"), Algorithm=SHA256)
            etree.SubElement(reference, q(DS_NS, "DigestValue")).text = base64.b64encode(
                hashlib.sha256(_c14n(element)).digest()).decode()
        etree.SubElement(signature, q(DS_NS, "SignatureValue"))
        key_info = etree.SubElement(signature, q(DS_NS, "KeyInfo"))
        reference_el = etree.SubElement(key_info, q(c.WSSE_NS, "SecurityTokenReference"))
        etree.SubElement(reference_el, q(c.WSSE_NS, "Reference"), URI=f"#{token_id}",
                         ValueType=X509V3)
        # SignedInfo is final: the value is a sibling's text, so its canonical form stays.
        doc = etree.fromstring(etree.tostring(doc), parser())
        sig = doc.find(f".//{q(DS_NS, 'Signature')}")
        assert sig is not None
        signed_info = sig.find(q(DS_NS, "SignedInfo"))
        sig_value = sig.find(q(DS_NS, "SignatureValue"))
        assert signed_info is not None and sig_value is not None
        sig_value.text = base64.b64encode(self.key.sign(
            _c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())).decode()
        return doc
