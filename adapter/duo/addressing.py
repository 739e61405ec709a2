"""WS-Addressing as Edukoppeling wants it, on top of what zeep adds itself.

zeep adds ``wsa:Action``, ``wsa:MessageID`` and ``wsa:To`` automatically because
our WSDL declares ``wsaw:Action`` (adding zeep's ``WsAddressingPlugin`` as well
would duplicate them). zeep sets ``wsa:To`` to the endpoint URL and never adds
``wsa:From``; :func:`address_request` rewrites ``To`` to ``…/anonymous?oin=<DUO
OIN>``, adds ``From/Address`` = ``…/anonymous?oin=<sender OIN>`` and checks that
each header occurs exactly once.

It is a plain function called per request by :class:`~adapter.duo.client.DuoClient`
(not a zeep plugin): plugins are shared by every thread using the client, and the
``From`` OIN differs per call in the SaaS set-up (the OIN of the school that sends).
The WS-Security signature (:mod:`adapter.duo.wsse`) is applied after this, as the
last step before the bytes are written.
"""

from __future__ import annotations

from lxml import etree

from adapter.duo.contract import MESSAGE_ID_RE, SOAP11_NS, WSA_NS, anonymous_address
from adapter.errors import SystemFault

_HEADER = f"{{{SOAP11_NS}}}Header"
REQUIRED_HEADERS = ("To", "Action", "MessageID", "From")


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


def address_request(envelope: etree._Element, http_headers: dict[str, str], *,
                    duo_oin: str, from_oin: str) -> None:
    """Set ``To``/``From`` (OIN addresses) on zeep's envelope, in place, and check it.

    Raises :class:`SystemFault` when zeep did not add the WSA headers (WSDL broken)
    or a header is not there exactly once (see :func:`check_request_headers`).
    """
    header = envelope.find(_HEADER)
    if header is None:
        raise SystemFault("wsa_headers_missing")
    found = wsa_headers(envelope)
    to = found.get("To") or []
    if len(to) != 1:
        raise SystemFault("wsa_to_not_once")
    to[0].text = anonymous_address(duo_oin)
    if "From" not in found:
        from_el = etree.SubElement(header, f"{{{WSA_NS}}}From")
        etree.SubElement(from_el, f"{{{WSA_NS}}}Address").text = anonymous_address(from_oin)
    check_request_headers(envelope, http_headers.get("SOAPAction", ""))


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
