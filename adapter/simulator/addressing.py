"""WS-Addressing as DUO checks it on a request (§3.2 [F]; fault codes §3.8 [F]).

A request carries, each exactly once, ``wsa:To`` (``…/anonymous?oin=<DUO's OIN>``),
``wsa:Action`` (= the HTTP SOAPAction), ``wsa:MessageID`` (``urn:uuid:…``) and
``wsa:From/wsa:Address`` (``…/anonymous?oin=<sender OIN>``); ``wsa:ReplyTo``, when
present, is anonymous. No header blocks other than WS-Addressing and WS-Security
(DK0010). A more specific code wins over DK0011 (EK0021–EK0023).

[I] Which of two failures DUO reports when a request has both is not documented;
the simulator checks in the order of :func:`check_addressing`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from adapter.duo import contract as c
from adapter.simulator.wire import q

_ALLOWED_HEADER_NS = (c.WSA_NS, c.WSSE_NS, c.WSU_NS)


class AddressingFault(Exception):
    """A WS-Addressing failure: the Edukoppeling ``code`` and a value-free ``detail``."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass
class Addressed:
    """What the headers say, as far as they could be read (for the fault's own headers too)."""

    message_id: str | None = None
    from_oin: str | None = None


def headers(envelope: etree._Element) -> dict[str, list[etree._Element]]:
    """WS-Addressing header blocks under ``soapenv:Header``, by local name."""
    found: dict[str, list[etree._Element]] = {}
    header = envelope.find(q(c.SOAP11_NS, "Header"))
    if header is not None:
        for child in header:
            if isinstance(child.tag, str) and etree.QName(child).namespace == c.WSA_NS:
                found.setdefault(etree.QName(child).localname, []).append(child)
    return found


def read_addresses(found: dict[str, list[etree._Element]]) -> Addressed:
    """MessageID and From OIN when each occurs once and is valid (else None)."""
    seen = Addressed()
    ids = found.get("MessageID") or []
    if len(ids) == 1:
        text = (ids[0].text or "").strip()
        if c.MESSAGE_ID_RE.match(text):
            seen.message_id = text
    froms = found.get("From") or []
    if len(froms) == 1:
        address = (froms[0].findtext(q(c.WSA_NS, "Address")) or "").strip()
        oin = c.oin_from_address(address)
        if oin and c.OIN_RE.match(oin):
            seen.from_oin = oin
    return seen


def check_addressing(envelope: etree._Element, found: dict[str, list[etree._Element]],
                     seen: Addressed, soap_action: str, duo_oin: str) -> None:
    """Raise :class:`AddressingFault` for the first failure; return when all is well."""
    header = envelope.find(q(c.SOAP11_NS, "Header"))
    if header is not None:
        for child in header:
            if isinstance(child.tag, str) and \
                    etree.QName(child).namespace not in _ALLOWED_HEADER_NS:
                raise AddressingFault("DK0010", "only WS-Addressing and WS-Security headers")
    for name, code in (("To", "DK0005"), ("Action", "DK0006"), ("MessageID", "DK0007"),
                       ("From", "EK0020")):
        if not found.get(name):
            raise AddressingFault(code)
    for name, elements in found.items():
        if len(elements) > 1:
            raise AddressingFault("DK0011", f"wsa:{name} occurs more than once")
    if (found["Action"][0].text or "").strip() != soap_action:
        raise AddressingFault("DK0003", "SOAPAction differs from wsa:Action")
    to_oin = c.oin_from_address((found["To"][0].text or "").strip())
    if not to_oin or not c.OIN_RE.match(to_oin):
        raise AddressingFault("EK0022")
    if to_oin != duo_oin:
        raise AddressingFault("DK0011", "wsa:To does not carry the OIN of this service")
    if seen.from_oin is None:
        raise AddressingFault("EK0021")
    if seen.message_id is None:
        raise AddressingFault("EK0023")
    replies = found.get("ReplyTo") or []
    if replies and (replies[0].findtext(q(c.WSA_NS, "Address")) or "").strip() != c.ANONYMOUS:
        raise AddressingFault("DK0011", "wsa:ReplyTo must be anonymous")


def answer_headers(envelope: etree._Element, *, action: str, relates_to: str | None,
                   to_oin: str | None, duo_oin: str, message_id: str) -> None:
    """Write an answer's WSA headers: To (requester), Action, MessageID, RelatesTo, From (DUO)."""
    header = etree.SubElement(envelope, q(c.SOAP11_NS, "Header"))
    etree.SubElement(header, q(c.WSA_NS, "To")).text = (
        c.anonymous_address(to_oin) if to_oin else c.ANONYMOUS)
    etree.SubElement(header, q(c.WSA_NS, "Action")).text = action
    etree.SubElement(header, q(c.WSA_NS, "MessageID")).text = message_id
    if relates_to:
        etree.SubElement(header, q(c.WSA_NS, "RelatesTo")).text = relates_to
    from_el = etree.SubElement(header, q(c.WSA_NS, "From"))
    etree.SubElement(from_el, q(c.WSA_NS, "Address")).text = c.anonymous_address(duo_oin)
