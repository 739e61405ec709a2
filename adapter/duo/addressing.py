"""WS-Addressing as Edukoppeling wants it, on top of what zeep adds itself.

zeep adds ``wsa:Action``, ``wsa:MessageID`` and ``wsa:To`` automatically because
our WSDL declares ``wsaw:Action`` (adding zeep's ``WsAddressingPlugin`` as well
would duplicate them). zeep sets ``wsa:To`` to the endpoint URL and never adds
``wsa:From``; :class:`EdukoppelingAddressing` rewrites ``To`` to
``…/anonymous?oin=<DUO OIN>``, adds ``From/Address`` = ``…/anonymous?oin=<school
OIN>``, and checks that each header occurs exactly once.

The WS-Security signer comes later: :class:`EdukoppelingAddressing` is followed
by the ``signers`` hook of :class:`~adapter.duo.client.DuoClient` (egress plugins
run after auto-WSA and before zeep's ``wsse``), so a signer sees the final headers.
"""

from __future__ import annotations

from typing import Any, Callable

from lxml import etree
from zeep.plugins import Plugin

from adapter.duo.contract import MESSAGE_ID_RE, SOAP11_NS, WSA_NS, anonymous_address
from adapter.errors import SystemFault

_HEADER = f"{{{SOAP11_NS}}}Header"
REQUIRED_HEADERS = ("To", "Action", "MessageID", "From")

#: A signer gets the complete envelope (headers in place) and returns it signed.
EnvelopeSigner = Callable[[etree._Element], etree._Element]


def wsa_headers(envelope: etree._Element) -> dict[str, list[etree._Element]]:
    """The WS-Addressing header elements of an envelope, by local name."""
    found: dict[str, list[etree._Element]] = {}
    header = envelope.find(_HEADER)
    if header is None:
        return found
    for child in header:
        if isinstance(child.tag, str) and child.tag.startswith(f"{{{WSA_NS}}}"):
            found.setdefault(etree.QName(child).localname, []).append(child)
    return found


def message_id_of(envelope: etree._Element) -> str | None:
    """The request's ``wsa:MessageID`` text, or None."""
    ids = wsa_headers(envelope).get("MessageID") or []
    return ids[0].text if ids else None


class EdukoppelingAddressing(Plugin):
    """Egress plugin: OIN addressing on ``To``/``From`` and exactly-once headers."""

    def __init__(self, *, duo_oin: str, school_oin: str,
                 signers: tuple[EnvelopeSigner, ...] = ()) -> None:
        self.to_address = anonymous_address(duo_oin)
        self.from_address = anonymous_address(school_oin)
        self.signers = signers

    def egress(self, envelope: etree._Element, http_headers: dict[str, str],
               operation: Any, binding_options: Any
               ) -> tuple[etree._Element, dict[str, str]]:
        header = envelope.find(_HEADER)
        if header is None:
            raise SystemFault("wsa_headers_missing")   # zeep did not add WSA: WSDL broken
        found = wsa_headers(envelope)
        to = found.get("To") or []
        if len(to) != 1:
            raise SystemFault("wsa_to_not_once")
        to[0].text = self.to_address
        if "From" not in found:
            from_el = etree.SubElement(header, f"{{{WSA_NS}}}From")
            etree.SubElement(from_el, f"{{{WSA_NS}}}Address").text = self.from_address
        check_request_headers(envelope, http_headers.get("SOAPAction", ""))
        for sign in self.signers:
            envelope = sign(envelope)
        return envelope, http_headers


def check_request_headers(envelope: etree._Element, soap_action: str) -> None:
    """Each of To/Action/MessageID/From exactly once, Action = SOAPAction, MessageID a UUID.

    Raises :class:`SystemFault` naming the header: a violation is a bug in our
    own stack, never in a record.
    """
    found = wsa_headers(envelope)
    for name in REQUIRED_HEADERS:
        if len(found.get(name) or []) != 1:
            raise SystemFault(f"wsa_{name.lower()}_not_exactly_once")
    action = (found["Action"][0].text or "").strip()
    if action != soap_action.strip('"'):
        raise SystemFault("wsa_action_differs_from_soapaction")
    if not MESSAGE_ID_RE.match((found["MessageID"][0].text or "").strip()):
        raise SystemFault("wsa_message_id_not_uuid")
