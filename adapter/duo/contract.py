"""The Verzuim_V1 contract: names, namespaces, codes, shared by client and simulator.

This module is the one place that knows our service definition
(``wsdl/verzuim.wsdl`` + ``wsdl/verzuim.xsd``); when DUO's real contract is
obtained, it and :mod:`adapter.duo.mapping` are what change.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

CONTRACT_NS: Final = "http://verzuim-adapter.nl/contract/Verzuim_V1"
SCHEMA_NS: Final = "http://verzuim-adapter.nl/schema/Verzuim_V1"
SOAP11_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
WSA_NS: Final = "http://www.w3.org/2005/08/addressing"
WSSE_NS: Final = ("http://docs.oasis-open.org/wss/2004/01/"
                  "oasis-200401-wss-wssecurity-secext-1.0.xsd")
WSU_NS: Final = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-wssecurity-utility-1.0.xsd")
ANONYMOUS: Final = "http://www.w3.org/2005/08/addressing/anonymous"

WSDL_DIR: Final = Path(__file__).resolve().parent / "wsdl"
WSDL_PATH: Final = WSDL_DIR / "verzuim.wsdl"
XSD_PATH: Final = WSDL_DIR / "verzuim.xsd"

AANLEVEREN: Final = "aanleverenVerzuimmelding"
WIJZIGEN: Final = "wijzigenVerzuimmelding"
INTREKKEN: Final = "intrekkenVerzuimmelding"
OPVRAGEN: Final = "opvragenVerzuimmelding"
OPVRAGEN_GEWIJZIGD: Final = "opvragenGewijzigdeVerzuimmeldingen"
AANLEVEREN_BIJLAGE: Final = "aanleverenBijlage"
OPERATIONS: Final = (AANLEVEREN, WIJZIGEN, INTREKKEN, OPVRAGEN, OPVRAGEN_GEWIJZIGD,
                     AANLEVEREN_BIJLAGE)
#: Operations with an effect at DUO (the others only read).
MUTATING: Final = frozenset({AANLEVEREN, WIJZIGEN, INTREKKEN, AANLEVEREN_BIJLAGE})

DUO_INSTANTIE: Final = "DUO"

#: Functional code the simulator (and, we assume, DUO) uses for a reused
#: identificatiecodeBedrijfsdocument: evidence the earlier send arrived.
DUPLICATE_DOCUMENT_CODE: Final = "VZ900"
DUPLICATE_DOCUMENT_TEXT: Final = "identificatiecodeBedrijfsdocument is al gebruikt"
#: Functional code for a ``datumTijdLaatsteMutatie`` that is not the report's current
#: stamp (the report changed meanwhile): the simulator's, DUO's is a guess [I].
STALE_STAMP_CODE: Final = "VZ903"
STALE_STAMP_TEXT: Final = "melding is intussen gewijzigd"

OIN_RE: Final = re.compile(r"^[0-9A-Z]{20}$")
UUID_RE: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MESSAGE_ID_RE: Final = re.compile(r"^urn:uuid:" + UUID_RE.pattern[1:])

#: Short fault strings per Edukoppeling code (RIO PvE §6.5).
FAULT_STRINGS: Final = {
    "DK0001": "Ongeldige SOAP envelope",
    "DK0002": "Niet geautoriseerd",
    "DK0003": "Ongeldige SOAPAction",
    "DK0004": "Bericht niet conform XSD",
    "DK0005": "wsa:To ontbreekt",
    "DK0006": "wsa:Action ontbreekt",
    "DK0007": "wsa:MessageID ontbreekt",
    "DK0008": "wsa:RelatesTo ontbreekt",
    "DK0009": "Bericht niet in UTF-8",
    "DK0010": "Niet toegestane headers",
    "DK0011": "Onjuiste waarde in WS-Addressing header",
    "EK0020": "wsa:From ontbreekt",
    "EK0021": "wsa:From bevat geen geldig OIN",
    "EK0022": "wsa:To bevat geen geldig OIN",
    "EK0023": "wsa:MessageID is geen UUID",
    "EK0030": "OIN in TLS-certificaat ontbreekt of is ongeldig",
    "EK0031": "Signature ontbreekt of is ongeldig",
    "DK0050": "Fout bij verwerking",
    "DK0051": "Service niet beschikbaar",
}
#: The SOAP 1.1 fault-code class of each code.
FAULT_CLASS: Final = {code: ("VersionMismatch" if code == "DK0001" else
                             "Server" if code in ("DK0050", "DK0051") else "Client")
                      for code in FAULT_STRINGS}


def soap_action(operation: str) -> str:
    """SOAPAction (= wsa:Action) of a request: contract namespace + ``/`` + operation."""
    return f"{CONTRACT_NS}/{operation}"


def response_action(operation: str) -> str:
    """wsa:Action of the response (the WSDL output's ``wsaw:Action``)."""
    return f"{CONTRACT_NS}/{operation}_Response"


def operation_of(action: str) -> str | None:
    """The operation named by a SOAPAction/wsa:Action, or None when unknown."""
    prefix = CONTRACT_NS + "/"
    if action.startswith(prefix) and action[len(prefix):] in OPERATIONS:
        return action[len(prefix):]
    return None


def anonymous_address(oin: str) -> str:
    """Edukoppeling address carrying an OIN: ``…/anonymous?oin=<OIN>``."""
    return f"{ANONYMOUS}?oin={oin}"


def oin_from_address(address: str) -> str | None:
    """The OIN in an ``…?oin=`` address (parameter name case-insensitive), or None.

    Returns the raw value when present, even if it is not a valid OIN; callers
    check it with :data:`OIN_RE`.
    """
    if "?" not in address:
        return None
    query = address.split("?", 1)[1]
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name.lower() == "oin":
            return value
    return None
