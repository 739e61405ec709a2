"""Verifying an Edukoppeling WS-Security signature: what DUO checks, and what we check on DUO.

:func:`verify_envelope` raises :class:`SignatureInvalid` whose ``check`` names the
first check that failed (``part`` the part concerned), never a value:

======================== ===============================================================
check                    meaning
======================== ===============================================================
security_header_missing  no ``wsse:Security`` header (nothing signed)
security_header_not_once more than one ``wsse:Security`` header
signature_missing        no ``ds:Signature`` in it
signature_not_once       more than one ``ds:Signature``, or one outside ``wsse:Security``
signature_malformed      an element the profile needs is absent, or not base64
algorithm_not_allowed    not exc-c14n / rsa-sha256 / sha256 (SHA-1 and others refused)
token_invalid            KeyInfo does not point at an X509v3 BinarySecurityToken here
token_untrusted          the token's certificate is not the pinned one / not chained
token_expired            the token's certificate is not valid now
reference_duplicate      two References to the same Id
reference_unresolved     a Reference whose Id matches no element, or several
digest_mismatch          a referenced part changed after signing
part_missing             a required part is absent (or occurs more than once)
part_not_signed          a required part, or any WS-Addressing header, is not referenced
signature_value_invalid  the SignatureValue does not verify with the token's key
timestamp_missing        no (single) ``wsu:Timestamp``/``wsu:Created``
timestamp_invalid        Created/Expires not a UTC dateTime, or Expires before Created
timestamp_in_future      Created later than now + clock skew
timestamp_expired        Expires earlier than now - clock skew
======================== ===============================================================

Parts are found at their *positions* (Body under Envelope, WSA headers under
Header, Timestamp and token inside ``wsse:Security``) and must carry the
``wsu:Id`` a Reference names, and that Id must be unique in the document: a
signed copy moved elsewhere (signature wrapping) does not count.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from adapter.duo.contract import WSSE_NS, WSU_NS
from adapter.duo.wsse_profile import (
    BASE64_BINARY,
    DS_NS,
    EXC_C14N,
    REQUEST_PARTS,
    RSA_SHA256,
    SHA256,
    WSU_ID,
    X509V3,
    canonical,
    part_elements,
    q,
    security_header,
    wsu_ids,
)
from adapter.pki.chain import build_chain

_WSA_LOCAL = ("To", "Action", "MessageID", "From", "RelatesTo", "ReplyTo", "FaultTo")
_PROFILE_PARTS = ("Body", "Timestamp", "BinarySecurityToken")


class SignatureInvalid(Exception):
    """The signature check ``check`` failed (for ``part``, when one is concerned)."""

    def __init__(self, check: str, part: str | None = None) -> None:
        self.check = check
        self.part = part
        super().__init__(check if part is None else f"{check} {part}")


@dataclass(frozen=True)
class VerifiedSignature:
    """What a valid signature established."""

    certificate: x509.Certificate        # the BinarySecurityToken's certificate
    signed_parts: tuple[str, ...]        # names of the parts at their positions, signed
    created: datetime
    expires: datetime | None
    signature_value: str                 # base64, e.g. for a SignatureConfirmation


def verify_envelope(doc: etree._Element, *, trusted_cert: x509.Certificate | None = None,
                    trust_store: Sequence[x509.Certificate] | None = None,
                    required_parts: Sequence[str] = REQUEST_PARTS, clock_skew: float = 300.0,
                    now: datetime | None = None) -> VerifiedSignature:
    """Check the one signature of ``doc`` (see the module table); return what it proves.

    Give exactly one of ``trusted_cert`` (the token must be this certificate: DUO's
    pinned signing certificate) and ``trust_store`` (the token must chain to a root
    among these certificates, CAs valid at ``now``: :func:`adapter.pki.chain.build_chain`).
    """
    if (trusted_cert is None) == (trust_store is None):
        raise ValueError("give exactly one of trusted_cert and trust_store")
    now = now or datetime.now(timezone.utc)
    securities = security_header(doc)
    if not securities:
        raise SignatureInvalid("security_header_missing")
    if len(securities) > 1:
        raise SignatureInvalid("security_header_not_once")
    security = securities[0]
    signatures = list(doc.iter(q(DS_NS, "Signature")))
    if not signatures:
        raise SignatureInvalid("signature_missing")
    if len(signatures) > 1 or signatures[0].getparent() is not security:
        raise SignatureInvalid("signature_not_once")
    signature = signatures[0]
    signed_info = _one(signature, q(DS_NS, "SignedInfo"))
    c14n_prefixes = _c14n_prefixes(_one(signed_info, q(DS_NS, "CanonicalizationMethod")))
    _algorithm(_one(signed_info, q(DS_NS, "SignatureMethod")), RSA_SHA256)

    certificate = _token_certificate(signature, security)
    _trust(certificate, trusted_cert, trust_store, now)

    parts = part_elements(doc)
    names = {id(el): name for name, els in parts.items() for el in els}
    signed_ids: set[str] = set()
    by_id = wsu_ids(doc)
    for reference in signed_info.findall(q(DS_NS, "Reference")):
        uri = reference.get("URI") or ""
        ref_id = uri[1:] if uri.startswith("#") else ""
        if ref_id in signed_ids:
            raise SignatureInvalid("reference_duplicate")
        targets = by_id.get(ref_id, [])
        if not ref_id or len(targets) != 1:
            raise SignatureInvalid("reference_unresolved")
        target = targets[0]
        part = names.get(id(target), "other")
        transforms = _one(reference, q(DS_NS, "Transforms")).findall(q(DS_NS, "Transform"))
        if len(transforms) != 1:
            raise SignatureInvalid("algorithm_not_allowed", "Transform")
        prefixes = _c14n_prefixes(transforms[0])
        _algorithm(_one(reference, q(DS_NS, "DigestMethod")), SHA256)
        expected = _b64(_one(reference, q(DS_NS, "DigestValue")).text)
        if not hmac.compare_digest(expected, hashlib.sha256(canonical(target, prefixes)).digest()):
            raise SignatureInvalid("digest_mismatch", part)
        signed_ids.add(ref_id)
    if not signed_ids:
        raise SignatureInvalid("part_not_signed", "Body")

    must_sign = list(required_parts) + [n for n in parts if n in _WSA_LOCAL and n not in
                                       required_parts]
    for name in must_sign:
        elements = parts.get(name) or []
        if len(elements) != 1:
            raise SignatureInvalid("part_missing", name)
        if elements[0].get(WSU_ID) not in signed_ids:
            raise SignatureInvalid("part_not_signed", name)

    value_text = _one(signature, q(DS_NS, "SignatureValue")).text
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureInvalid("algorithm_not_allowed", "key")
    try:
        key.verify(_b64(value_text), canonical(signed_info, c14n_prefixes),
                   padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureInvalid("signature_value_invalid") from None

    created, expires = _timestamp(security, now, clock_skew)
    signed = tuple(n for n in parts if len(parts[n]) == 1 and parts[n][0].get(WSU_ID) in signed_ids)
    return VerifiedSignature(certificate=certificate, signed_parts=signed, created=created,
                             expires=expires, signature_value="".join((value_text or "").split()))


# ---- pieces -----------------------------------------------------------------------------

def _one(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.findall(tag)
    if len(found) != 1:
        raise SignatureInvalid("signature_malformed", etree.QName(tag).localname)
    return found[0]


def _b64(text: str | None) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("signature_malformed", "base64") from None


def _algorithm(element: etree._Element, allowed: str) -> None:
    if element.get("Algorithm") != allowed:
        raise SignatureInvalid("algorithm_not_allowed", etree.QName(element).localname)


def _c14n_prefixes(method: etree._Element) -> list[str]:
    """Exclusive C14N only; its InclusiveNamespaces PrefixList, if any."""
    _algorithm(method, EXC_C14N)
    inclusive = method.find(q(EXC_C14N, "InclusiveNamespaces"))
    return (inclusive.get("PrefixList") or "").split() if inclusive is not None else []


def _token_certificate(signature: etree._Element, security: etree._Element
                       ) -> x509.Certificate:
    """The certificate in the BST that KeyInfo references directly (``#id``)."""
    refs = signature.findall(
        f"{q(DS_NS, 'KeyInfo')}/{q(WSSE_NS, 'SecurityTokenReference')}/{q(WSSE_NS, 'Reference')}")
    uri = (refs[0].get("URI") or "") if len(refs) == 1 else ""
    tokens = [t for t in security.findall(q(WSSE_NS, "BinarySecurityToken"))
              if uri.startswith("#") and t.get(WSU_ID) == uri[1:]]
    if len(tokens) != 1 or tokens[0].get("ValueType") != X509V3 or \
            tokens[0].get("EncodingType", BASE64_BINARY) != BASE64_BINARY:
        raise SignatureInvalid("token_invalid")
    try:
        return x509.load_der_x509_certificate(_b64(tokens[0].text))
    except (ValueError, SignatureInvalid):
        raise SignatureInvalid("token_invalid") from None


def _trust(certificate: x509.Certificate, pinned: x509.Certificate | None,
           store: Sequence[x509.Certificate] | None, now: datetime) -> None:
    if pinned is not None and certificate != pinned:
        raise SignatureInvalid("token_untrusted")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SignatureInvalid("token_expired")
    if store is not None and not build_chain(certificate, [], list(store),
                                             bundle_name="trust store", now=now).complete:
        raise SignatureInvalid("token_untrusted")


def _timestamp(security: etree._Element, now: datetime, skew: float
               ) -> tuple[datetime, datetime | None]:
    stamps = security.findall(q(WSU_NS, "Timestamp"))
    created_els = stamps[0].findall(q(WSU_NS, "Created")) if len(stamps) == 1 else []
    if len(created_els) != 1:
        raise SignatureInvalid("timestamp_missing")
    expires_els = stamps[0].findall(q(WSU_NS, "Expires"))
    if len(expires_els) > 1:
        raise SignatureInvalid("timestamp_invalid")
    created = _utc(created_els[0].text)
    expires = _utc(expires_els[0].text) if expires_els else None
    if expires is not None and expires < created:
        raise SignatureInvalid("timestamp_invalid")
    if (created - now).total_seconds() > skew:
        raise SignatureInvalid("timestamp_in_future")
    if expires is not None and (now - expires).total_seconds() > skew:
        raise SignatureInvalid("timestamp_expired")
    return created, expires


def _utc(text: str | None) -> datetime:
    try:
        value = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise SignatureInvalid("timestamp_invalid") from None
    if value.tzinfo is None:
        raise SignatureInvalid("timestamp_invalid")
    return value.astimezone(timezone.utc)
