"""Checking a request's WS-Security signature: signxml verifies, the profile decides.

The cryptography (canonical forms, digests, the RSA signature value) is done by
**signxml**, an XML-DSig implementation independent of the client's signer and
verifier; the signing certificate's chain by ``cryptography.x509.verification``.
Around that, the simulator applies its own reading of the Edukoppeling profile
(:mod:`adapter.simulator.profile`): where the signature sits, which algorithms,
which token, which parts must be signed *at their places*, and the timestamp.

:meth:`RequestVerifier.verify` raises :class:`SignatureRefused` (→ ``EK0031``)
whose ``check`` names the first failed check, never a value:

======================== ===============================================================
check                    meaning
======================== ===============================================================
security_header_missing  no ``wsse:Security`` header
security_header_not_once more than one
signature_missing        no ``ds:Signature``
signature_not_once       more than one, or one outside ``wsse:Security``
signature_malformed      an element the profile needs is absent or unreadable
algorithm_not_allowed    not exc-c14n / rsa-sha256 / sha256 (SHA-1 and others refused)
token_invalid            KeyInfo does not reference an X509v3 BinarySecurityToken here
token_expired            the token's certificate is not valid now
token_untrusted          the token's certificate does not chain to the trust bundle
reference_duplicate      two References to one Id
reference_unresolved     a Reference whose Id names no element, or several
signature_value_invalid  the SignatureValue does not verify (signxml)
digest_mismatch          a referenced part changed after signing (signxml)
part_missing             a part that must be signed is absent or not there once
part_not_signed          a part that must be signed, or any WSA header, is not referenced
timestamp_missing        no single ``wsu:Timestamp`` with one ``wsu:Created``
timestamp_invalid        Created/Expires not a UTC dateTime, or Expires before Created
timestamp_in_future      Created later than now + clock skew
timestamp_expired        Expires earlier than now − clock skew
======================== ===============================================================
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Sequence
from datetime import datetime, timezone

from cryptography import x509
from cryptography.x509 import verification
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)
from signxml.verifier import SignatureConfiguration, XMLVerifier

from adapter.duo import contract as c
from adapter.simulator.profile import (
    BASE64_BINARY,
    EXC_C14N,
    REQUEST_MUST_SIGN,
    RSA_SHA256,
    SHA256,
    WSA_HEADERS,
    X509V3,
    parts_at_their_places,
    security_headers,
)
from adapter.simulator.wire import DS_NS, WSU_ID, q

# signxml logs every canonicalised part at DEBUG: whole bodies, personal data. Never.
logging.getLogger("signxml").setLevel(logging.WARNING)

_CONFIG_LOCATION = f"./{q(c.SOAP11_NS, 'Header')}/{q(c.WSSE_NS, 'Security')}/"
_URI_IN_MESSAGE = re.compile(r"\(#([^)]*)\)")


class SignatureRefused(Exception):
    """The check ``check`` failed (for ``part``, when one is concerned)."""

    def __init__(self, check: str, part: str | None = None) -> None:
        self.check = check
        self.part = part
        super().__init__(check if part is None else f"{check} {part}")


class RequestVerifier:
    """Verifies request signatures against one trust bundle; safe across threads."""

    def __init__(self, trust: Sequence[x509.Certificate], *, clock_skew: float) -> None:
        self._store = verification.Store(list(trust))
        self.clock_skew = clock_skew

    def verify(self, data: bytes, doc: etree._Element, *, now: datetime | None = None
               ) -> x509.Certificate:
        """Check the signature of ``doc`` (parsed from exactly ``data``); the signer's certificate."""
        now = now or datetime.now(timezone.utc)
        securities = security_headers(doc)
        if not securities:
            raise SignatureRefused("security_header_missing")
        if len(securities) > 1:
            raise SignatureRefused("security_header_not_once")
        security = securities[0]
        signatures = list(doc.iter(q(DS_NS, "Signature")))
        if not signatures:
            raise SignatureRefused("signature_missing")
        if len(signatures) > 1 or signatures[0].getparent() is not security:
            raise SignatureRefused("signature_not_once")
        signature = signatures[0]
        referenced = _algorithms_and_references(signature)
        certificate = _token(signature, security)
        self._trust(certificate, now)
        for ref_id in referenced:
            if len(_with_id(doc, ref_id)) != 1:
                raise SignatureRefused("reference_unresolved")
        _cryptography(data, certificate, len(referenced), now, doc)
        _coverage(doc, set(referenced))
        _timestamp(security, now, self.clock_skew)
        return certificate

    def _trust(self, certificate: x509.Certificate, now: datetime) -> None:
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise SignatureRefused("token_expired")
        verifier = (verification.PolicyBuilder().store(self._store).time(now)
                    .extension_policies(ee_policy=verification.ExtensionPolicy.permit_all(),
                                        ca_policy=verification.ExtensionPolicy.webpki_defaults_ca())
                    .build_client_verifier())
        try:
            verifier.verify(certificate, [])
        except verification.VerificationError:
            raise SignatureRefused("token_untrusted") from None


def _one(parent: etree._Element, ns: str, name: str) -> etree._Element:
    found = parent.findall(q(ns, name))
    if len(found) != 1:
        raise SignatureRefused("signature_malformed", name)
    return found[0]


def _allowed(element: etree._Element, algorithm: str) -> None:
    if element.get("Algorithm") != algorithm:
        raise SignatureRefused("algorithm_not_allowed", etree.QName(element).localname)


def _algorithms_and_references(signature: etree._Element) -> list[str]:
    """The profile's algorithms everywhere; the Ids the References name (once each)."""
    info = _one(signature, DS_NS, "SignedInfo")
    _allowed(_one(info, DS_NS, "CanonicalizationMethod"), EXC_C14N)
    _allowed(_one(info, DS_NS, "SignatureMethod"), RSA_SHA256)
    ids: list[str] = []
    for reference in info.findall(q(DS_NS, "Reference")):
        transforms = _one(reference, DS_NS, "Transforms").findall(q(DS_NS, "Transform"))
        if len(transforms) != 1:
            raise SignatureRefused("algorithm_not_allowed", "Transform")
        _allowed(transforms[0], EXC_C14N)
        _allowed(_one(reference, DS_NS, "DigestMethod"), SHA256)
        uri = reference.get("URI") or ""
        if not uri.startswith("#") or len(uri) < 2:
            raise SignatureRefused("reference_unresolved")
        if uri[1:] in ids:
            raise SignatureRefused("reference_duplicate")
        ids.append(uri[1:])
    if not ids:
        raise SignatureRefused("part_not_signed", "Body")
    return ids


def _token(signature: etree._Element, security: etree._Element) -> x509.Certificate:
    """The certificate of the BinarySecurityToken that KeyInfo references (``#id``)."""
    refs = signature.findall(f"{q(DS_NS, 'KeyInfo')}/{q(c.WSSE_NS, 'SecurityTokenReference')}/"
                             f"{q(c.WSSE_NS, 'Reference')}")
    uri = (refs[0].get("URI") or "") if len(refs) == 1 else ""
    tokens = [t for t in security.findall(q(c.WSSE_NS, "BinarySecurityToken"))
              if uri.startswith("#") and t.get(WSU_ID) == uri[1:]]
    if len(tokens) != 1 or tokens[0].get("ValueType") != X509V3 or \
            tokens[0].get("EncodingType", BASE64_BINARY) != BASE64_BINARY:
        raise SignatureRefused("token_invalid")
    try:
        der = base64.b64decode("".join((tokens[0].text or "").split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise SignatureRefused("token_invalid") from None


def _with_id(doc: etree._Element, ref_id: str) -> list[etree._Element]:
    """Elements carrying ``ref_id`` in *any* attribute named Id (what signxml resolves)."""
    found = doc.xpath("//*[@*[local-name() = 'Id'] = $ref]", ref=ref_id)
    return [e for e in found if isinstance(e, etree._Element)] if isinstance(found, list) else []


def _cryptography(data: bytes, certificate: x509.Certificate, references: int, now: datetime,
                  doc: etree._Element) -> None:
    """signxml: the SignatureValue over SignedInfo, then every Reference's digest."""
    config = SignatureConfiguration(
        location=_CONFIG_LOCATION, expect_references=references, require_x509=True,
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}), verification_time=now)
    try:
        # No XML-DSig schema check: its strict wildcard refuses the exc-c14n
        # InclusiveNamespaces element in CanonicalizationMethod, which the profile uses.
        XMLVerifier().verify(data, x509_cert=certificate, id_attribute="Id",
                             validate_schema=False, expect_config=config)
    except InvalidDigest as exc:
        found = _URI_IN_MESSAGE.search(str(exc))
        raise SignatureRefused("digest_mismatch",
                               _part_name(doc, found.group(1)) if found else None) from None
    except InvalidCertificate:
        raise SignatureRefused("token_expired") from None
    except InvalidSignature:
        raise SignatureRefused("signature_value_invalid") from None
    except (InvalidInput, SignXMLException, etree.DocumentInvalid, ValueError, TypeError):
        raise SignatureRefused("signature_malformed") from None


def _part_name(doc: etree._Element, ref_id: str) -> str:
    for name, elements in parts_at_their_places(doc).items():
        if any(el.get(WSU_ID) == ref_id for el in elements):
            return name
    return "other"


def _coverage(doc: etree._Element, signed_ids: set[str]) -> None:
    """Each part the profile wants signed is there once, at its place, and referenced."""
    parts = parts_at_their_places(doc)
    must = list(REQUEST_MUST_SIGN) + [n for n in WSA_HEADERS
                                      if n in parts and n not in REQUEST_MUST_SIGN]
    for name in must:
        elements = parts.get(name) or []
        if len(elements) != 1:
            raise SignatureRefused("part_missing", name)
        if elements[0].get(WSU_ID) not in signed_ids:
            raise SignatureRefused("part_not_signed", name)


def _timestamp(security: etree._Element, now: datetime, skew: float) -> None:
    stamps = security.findall(q(c.WSU_NS, "Timestamp"))
    created_els = stamps[0].findall(q(c.WSU_NS, "Created")) if len(stamps) == 1 else []
    if len(created_els) != 1:
        raise SignatureRefused("timestamp_missing")
    expires_els = stamps[0].findall(q(c.WSU_NS, "Expires"))
    if len(expires_els) > 1:
        raise SignatureRefused("timestamp_invalid")
    created = _utc(created_els[0].text)
    expires = _utc(expires_els[0].text) if expires_els else None
    if expires is not None and expires < created:
        raise SignatureRefused("timestamp_invalid")
    if (created - now).total_seconds() > skew:
        raise SignatureRefused("timestamp_in_future")
    if expires is not None and (now - expires).total_seconds() > skew:
        raise SignatureRefused("timestamp_expired")


def _utc(text: str | None) -> datetime:
    """A WS-Security dateTime: UTC required (§3.3 "Created (UTC)")."""
    try:
        value = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise SignatureRefused("timestamp_invalid") from None
    if value.tzinfo is None:
        raise SignatureRefused("timestamp_invalid")
    return value.astimezone(timezone.utc)
