"""What DUO enforces before it reads a message, in DUO's order, with DUO's fault codes.

:func:`check_request` raises :class:`SoapFault` with the Edukoppeling code of the
first failure (RIO PvE §6.2/§6.5; a more specific code wins). Order:

1. framing: ``text/xml;charset=UTF-8`` and UTF-8 bytes (DK0009), no DTD/entities
   and well-formed (DK0004), a SOAP 1.1 Envelope with one Body element (DK0001);
2. identification: the OIN in the TLS client certificate (EK0030; the chain itself
   was checked in the TLS handshake), SOAPAction (DK0003), only WSA/WS-Security
   headers (DK0010), each WSA header present once and valid (DK0005–DK0007,
   EK0020–EK0023, DK0011), ``wsa:Action`` = SOAPAction (DK0003);
3. authentication: the WS-Security signature (EK0031; see
   :mod:`adapter.simulator.signature`, verified with signxml): the parts of
   :data:`~adapter.simulator.profile.REQUEST_MUST_SIGN` signed, token chained to
   the trust bundle and carrying the TLS certificate's OIN, timestamp within its
   window ± clock skew;
4. authorisation: the certificate OIN may send for the ``wsa:From`` OIN (its own,
   or mandated: DK0002);
5. the Body against the XSD (DK0004).

The four steps and their order are DUO's ([F] RIO PvE §6.2); the order *within*
a step (which of two faults a doubly broken request gets) is our guess [I].

Fault details name elements, checks and error kinds, never values.
:func:`envelope` and :func:`fault_envelope` build the (unsigned) answers, with
``wsa:RelatesTo`` = the request's MessageID and DUO's OIN in ``wsa:From``.

Only the service contract (:mod:`adapter.duo.contract`: names, codes, WSDL/XSD) is
shared with the client; the reading, the addressing rules and the signature
check are the simulator's own.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from adapter.duo import contract as c
from adapter.simulator.addressing import (
    AddressingFault,
    answer_headers,
    check_addressing,
    headers,
    read_addresses,
)
from adapter.simulator.signature import RequestVerifier, SignatureRefused
from adapter.simulator.signer import ANSWER_NSMAP
from adapter.simulator.wire import certificate_oin, der_oin, parser, q


class SoapFault(Exception):
    """A SOAP 1.1 fault to send back: ``code`` like ``DK0004`` (class from FAULT_CLASS)."""

    def __init__(self, code: str, detail: str | None = None, *,
                 faultstring: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.faultstring = faultstring or c.FAULT_STRINGS.get(code, "Fout")

    @property
    def faultcode(self) -> str:
        return f"{c.FAULT_CLASS.get(self.code, 'Server')}.{self.code}"


@dataclass
class SoapRequest:
    """A request that passed every protocol check."""

    operation: str
    body: etree._Element
    message_id: str
    from_oin: str
    cert_oin: str


@dataclass(frozen=True)
class Policy:
    """What one simulator instance enforces beyond the fixed rules."""

    duo_oin: str
    verifier: RequestVerifier                      # trust bundle and clock skew
    may_send_for: Callable[[str, str], bool]       # (certificate OIN, wsa:From OIN)
    require_signature: bool = True


@dataclass
class Partial:
    """What is known about a request when a check fails (for the fault's WSA headers)."""

    message_id: str | None = None
    from_oin: str | None = None
    operation: str | None = None


def check_request(*, content_type: str, soap_action_header: str, body: bytes,
                  client_cert_der: bytes | None, schema: etree.XMLSchema, policy: Policy,
                  partial: Partial, schema_lock: threading.Lock | None = None) -> SoapRequest:
    """All protocol checks, in order (module docstring); fills ``partial`` as it learns.

    ``schema_lock`` guards ``schema`` (an XMLSchema object is not thread-safe)."""
    doc, body_el = _framing(content_type, body)
    found = headers(doc)
    seen = read_addresses(found)
    partial.message_id, partial.from_oin = seen.message_id, seen.from_oin

    # -- identification
    cert_oin = der_oin(client_cert_der)
    if cert_oin is None:
        raise SoapFault("EK0030")
    action_header = soap_action_header.strip().strip('"')
    operation = c.operation_of(action_header)
    if operation is None:
        raise SoapFault("DK0003", "SOAPAction does not name an operation of this service")
    partial.operation = operation
    try:
        check_addressing(doc, found, seen, action_header, policy.duo_oin)
    except AddressingFault as fault:
        raise SoapFault(fault.code, fault.detail) from None

    # -- authentication
    if policy.require_signature or doc.find(
            f"{q(c.SOAP11_NS, 'Header')}/{q(c.WSSE_NS, 'Security')}") is not None:
        try:
            signer = policy.verifier.verify(body, doc)
        except SignatureRefused as exc:
            raise SoapFault("EK0031", str(exc)) from None
        if certificate_oin(signer) != cert_oin:
            raise SoapFault("EK0031", "signing certificate OIN differs from the TLS certificate")

    # -- authorisation
    if seen.from_oin is None or seen.message_id is None:   # check_addressing saw to it
        raise SoapFault("DK0011")
    if not policy.may_send_for(cert_oin, seen.from_oin):
        raise SoapFault("DK0002", "certificate OIN is not authorised for wsa:From")

    # -- the message itself
    if etree.QName(body_el).namespace != c.SCHEMA_NS or \
            etree.QName(body_el).localname != f"{operation}_Request":
        raise SoapFault("DK0004", "Body element does not match the SOAPAction")
    with schema_lock or contextlib.nullcontext():
        detail = None if schema.validate(body_el) else _schema_detail(schema)
    if detail is not None:
        raise SoapFault("DK0004", detail)
    return SoapRequest(operation, body_el, seen.message_id, seen.from_oin, cert_oin)


def _framing(content_type: str, body: bytes) -> tuple[etree._Element, etree._Element]:
    """Encoding, DTD, well-formedness, SOAP 1.1 envelope: (document, the Body's element)."""
    media, _, params = content_type.partition(";")
    charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in params.split(";")
                    if p.strip().lower().startswith("charset=")), "utf-8")
    if media.strip().lower() != "text/xml" or charset not in ("utf-8", "utf8"):
        raise SoapFault("DK0009", "Content-Type must be text/xml;charset=UTF-8")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise SoapFault("DK0009", "body is not UTF-8") from None
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise SoapFault("DK0004", "DTD and entity declarations are not allowed")
    try:
        doc = etree.fromstring(body, parser())
    except etree.XMLSyntaxError:
        raise SoapFault("DK0004", "XML not well-formed") from None
    if doc.getroottree().docinfo.doctype:  # type: ignore[union-attr]  # lxml-stubs: DocInfo has it
        raise SoapFault("DK0004", "DTD not allowed")
    if doc.tag != q(c.SOAP11_NS, "Envelope"):
        raise SoapFault("DK0001", "not a SOAP 1.1 Envelope")
    bodies = doc.findall(q(c.SOAP11_NS, "Body"))
    if len(bodies) != 1 or len([e for e in bodies[0] if isinstance(e.tag, str)]) != 1:
        raise SoapFault("DK0001", "Body must hold exactly one element")
    return doc, next(e for e in bodies[0] if isinstance(e.tag, str))


def _schema_detail(schema: etree.XMLSchema) -> str:
    """Element paths and libxml2 error kinds only: messages would quote values."""
    parts = []
    for entry in list(schema.error_log)[:5]:  # type: ignore[call-overload]  # lxml-stubs: iterable
        path = "/".join(seg.split("}")[-1].split(":")[-1] for seg in (entry.path or "").split("/"))
        parts.append(f"{path or '?'}: {entry.type_name}")
    return "; ".join(parts) or "schema validation failed"


# ---- answers --------------------------------------------------------------------------

def envelope(body_el: etree._Element, *, operation: str, relates_to: str, to_oin: str,
             duo_oin: str) -> etree._Element:
    """A response envelope around ``body_el`` (unsigned: the caller signs it)."""
    env = etree.Element(q(c.SOAP11_NS, "Envelope"), nsmap={**ANSWER_NSMAP, "vz": c.SCHEMA_NS})
    answer_headers(env, action=c.response_action(operation), relates_to=relates_to,
                   to_oin=to_oin, duo_oin=duo_oin, message_id=f"urn:uuid:{uuid.uuid4()}")
    etree.SubElement(env, q(c.SOAP11_NS, "Body")).append(body_el)
    return env


def fault_envelope(fault: SoapFault, partial: Partial, *, duo_oin: str) -> etree._Element:
    """A SOAP 1.1 fault (``soapenv:Client.DK0004`` …) with WSA headers where possible."""
    env = etree.Element(q(c.SOAP11_NS, "Envelope"), nsmap={**ANSWER_NSMAP, "vz": c.SCHEMA_NS})
    answer_headers(env, action=f"{c.CONTRACT_NS}/Fault", relates_to=partial.message_id,
                   to_oin=partial.from_oin, duo_oin=duo_oin, message_id=f"urn:uuid:{uuid.uuid4()}")
    body = etree.SubElement(env, q(c.SOAP11_NS, "Body"))
    f = etree.SubElement(body, q(c.SOAP11_NS, "Fault"))
    etree.SubElement(f, "faultcode").text = f"soapenv:{fault.faultcode}"
    etree.SubElement(f, "faultstring").text = fault.faultstring
    if fault.detail:
        detail = etree.SubElement(f, "detail")
        etree.SubElement(detail, q(c.SCHEMA_NS, "foutdetail")).text = fault.detail
    return env
