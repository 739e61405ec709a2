"""WS-Security signing and verification as pure logic (real keys from the test PKI)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier

from adapter.duo import contract as c
from adapter.duo.wsse import (
    DS_NS, EXC_C14N, REQUEST_PARTS, RSA_SHA256, SHA256, X509V3, EnvelopeSigner, sign_envelope,
)
from adapter.duo.wsse_verify import SignatureInvalid, verify_envelope

S = f"{{{c.SOAP11_NS}}}"
W = f"{{{c.WSA_NS}}}"
DS = f"{{{DS_NS}}}"
ENVELOPE = f"""<s:Envelope xmlns:s="{c.SOAP11_NS}"><s:Header xmlns:wsa="{c.WSA_NS}">
<wsa:To>{c.anonymous_address("00000001800866472000")}</wsa:To>
<wsa:Action>{c.soap_action(c.OPVRAGEN)}</wsa:Action>
<wsa:MessageID>urn:uuid:7b7c8e52-4b8e-4a36-9d0c-0a5c6a1c4f11</wsa:MessageID>
<wsa:From><wsa:Address>{c.anonymous_address("00000099000000000001")}</wsa:Address></wsa:From>
</s:Header><s:Body><v:req xmlns:v="{c.SCHEMA_NS}"><v:brin>00AA</v:brin></v:req></s:Body>
</s:Envelope>""".encode()


@pytest.fixture(scope="module")
def school(pki_dir: Path) -> EnvelopeSigner:
    key = serialization.load_pem_private_key((pki_dir / "school-key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificates((pki_dir / "school.pem").read_bytes())[0]
    return EnvelopeSigner(key, cert, ttl_seconds=300)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def bundle(pki_dir: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates((pki_dir / "trust-bundle.pem").read_bytes())


def signed_bytes(signer: EnvelopeSigner, **kwargs: object) -> bytes:
    signed = signer.sign(etree.fromstring(ENVELOPE), **kwargs)  # type: ignore[arg-type]
    return etree.tostring(signed)


def check(data: bytes | etree._Element, bundle: list[x509.Certificate], **kwargs: object) -> str:
    doc = etree.fromstring(data) if isinstance(data, bytes) else data
    with pytest.raises(SignatureInvalid) as info:
        verify_envelope(doc, trust_store=bundle, **kwargs)  # type: ignore[arg-type]
    assert "00AA" not in str(info.value)          # names the check, never a value
    return str(info.value)


def test_layout_is_the_edukoppeling_profile(school: EnvelopeSigner) -> None:
    env = etree.fromstring(signed_bytes(school))
    header = env.find(f"{S}Header")
    security = header[0]
    assert etree.QName(security).localname == "Security"
    assert security.get(f"{S}mustUnderstand") == "1"
    assert [etree.QName(e).localname for e in security] == [
        "Timestamp", "BinarySecurityToken", "Signature"]
    token = security[1]
    assert token.get("ValueType") == X509V3
    signature = security[2]
    info = signature.find(f"{DS}SignedInfo")
    assert info.find(f"{DS}CanonicalizationMethod").get("Algorithm") == EXC_C14N
    assert info.find(f"{DS}SignatureMethod").get("Algorithm") == RSA_SHA256
    refs = info.findall(f"{DS}Reference")
    ids = {el.get(f"{{{c.WSU_NS}}}Id"): etree.QName(el).localname for el in env.iter()
           if el.get(f"{{{c.WSU_NS}}}Id")}
    assert sorted(ids[r.get("URI")[1:]] for r in refs) == sorted(REQUEST_PARTS)
    for ref in refs:                                   # one reference per part, own transform
        assert [t.get("Algorithm") for t in ref.iter(f"{DS}Transform")] == [EXC_C14N]
        assert ref.find(f"{DS}DigestMethod").get("Algorithm") == SHA256
    str_ref = signature.find(f"{DS}KeyInfo/{{{c.WSSE_NS}}}SecurityTokenReference/"
                             f"{{{c.WSSE_NS}}}Reference")
    assert str_ref.get("URI") == "#" + token.get(f"{{{c.WSU_NS}}}Id")


def test_round_trip_and_an_independent_verifier_agree(
        school: EnvelopeSigner, bundle: list[x509.Certificate]) -> None:
    data = signed_bytes(school)
    verified = verify_envelope(etree.fromstring(data), trust_store=bundle)
    assert set(verified.signed_parts) == set(REQUEST_PARTS)
    assert verified.expires - verified.created == timedelta(seconds=300)
    assert verified.certificate == school.certificate
    # signxml (its own XML-DSig core) accepts every one of the seven references.
    results = XMLVerifier().verify(
        data, x509_cert=school.certificate, validate_schema=False,
        expect_config=SignatureConfiguration(expect_references=7, require_x509=False))
    assert len(results) == 7


def test_moved_nodes_still_sign_what_the_receiver_sees(
        school: EnvelopeSigner, bundle: list[x509.Certificate]) -> None:
    """Regression: zeep builds the body apart and appends it; lxml's exclusive C14N of
    moved nodes left InclusiveNamespaces prefixes out, so digests did not match the
    parsed bytes. The signer signs a parsed copy."""
    env = etree.Element(f"{S}Envelope", nsmap={"s": c.SOAP11_NS})
    source = etree.fromstring(ENVELOPE)
    for child in list(source):
        env.append(child)                           # moved between documents
    signed = school.sign(env)
    verify_envelope(etree.fromstring(etree.tostring(signed)), trust_store=bundle)
    assert env.find(f"{S}Header/{{{c.WSSE_NS}}}Security") is None   # input left alone


@pytest.mark.parametrize("edit, expected", [
    (lambda e: e.find(f".//{DS}DigestMethod").set("Algorithm",
                                                  "http://www.w3.org/2000/09/xmldsig#sha1"),
     "algorithm_not_allowed DigestMethod"),
    (lambda e: e.find(f".//{DS}Transform").set("Algorithm",
                                               "http://www.w3.org/2006/12/xml-c14n11"),
     "algorithm_not_allowed Transform"),
    (lambda e: e.find(f".//{DS}Reference").set("URI", "#nowhere"), "reference_unresolved"),
    (lambda e: e.find(f".//{DS}SignedInfo").append(copy.deepcopy(e.find(f".//{DS}Reference"))),
     "reference_duplicate"),
    (lambda e: e.find(f".//{DS}KeyInfo").clear(), "token_invalid"),
    (lambda e: e.find(f".//{{{c.WSU_NS}}}Expires").getparent().remove(
        e.find(f".//{{{c.WSU_NS}}}Created")), "digest_mismatch Timestamp"),
    (lambda e: e.find(f"{S}Header").append(etree.fromstring(
        f'<wsa:ReplyTo xmlns:wsa="{c.WSA_NS}"><wsa:Address>{c.ANONYMOUS}</wsa:Address>'
        f'</wsa:ReplyTo>')), "part_not_signed ReplyTo"),
])
def test_broken_signatures_name_the_failed_check(edit, expected: str, school: EnvelopeSigner,
                                                 bundle: list[x509.Certificate]) -> None:
    env = etree.fromstring(signed_bytes(school))
    edit(env)
    assert check(etree.tostring(env), bundle).startswith(expected)


def test_signature_wrapping_is_refused(school: EnvelopeSigner,
                                       bundle: list[x509.Certificate]) -> None:
    """The signed Body moved into a header, a forged Body in its place: the Body at its
    position carries no referenced Id (or a duplicate one), so it does not verify."""
    env = etree.fromstring(signed_bytes(school))
    body = env.find(f"{S}Body")
    forged = copy.deepcopy(body)
    forged.find(f".//{{{c.SCHEMA_NS}}}brin").text = "99ZZ"
    env.find(f"{S}Header/{{{c.WSSE_NS}}}Security").append(body)    # original kept, hidden
    env.append(forged)                                             # same wsu:Id: ambiguous
    assert check(etree.tostring(env), bundle) == "reference_unresolved"
    del forged.attrib[f"{{{c.WSU_NS}}}Id"]                         # no Id: not signed
    assert check(etree.tostring(env), bundle) == "part_not_signed Body"


def test_pinned_certificate_and_time(school: EnvelopeSigner, pki_dir: Path,
                                     bundle: list[x509.Certificate]) -> None:
    data = signed_bytes(school)
    duo = x509.load_pem_x509_certificates((pki_dir / "duo.pem").read_bytes())[0]
    with pytest.raises(SignatureInvalid, match="token_untrusted"):
        verify_envelope(etree.fromstring(data), trusted_cert=duo)
    verify_envelope(etree.fromstring(data), trusted_cert=school.certificate)
    later = datetime.now(timezone.utc) + timedelta(seconds=900)
    with pytest.raises(SignatureInvalid, match="timestamp_expired"):
        verify_envelope(etree.fromstring(data), trust_store=bundle, clock_skew=300, now=later)
    verify_envelope(etree.fromstring(data), trust_store=bundle, clock_skew=700, now=later)
    with pytest.raises(ValueError):
        verify_envelope(etree.fromstring(data))


def test_signer_refuses_a_signed_envelope_and_non_rsa_keys(school: EnvelopeSigner) -> None:
    signed = school.sign(etree.fromstring(ENVELOPE))
    with pytest.raises(ValueError):
        sign_envelope(signed, school.private_key, school.certificate, ttl_seconds=60)
    with pytest.raises(TypeError):
        EnvelopeSigner(object(), school.certificate)  # type: ignore[arg-type]
