"""DUO's schema before send: a report checked against the XSD the client sends with.

:func:`check_schema` builds the ``aanleverenVerzuimmelding_Request`` body element
for a report exactly as :class:`~adapter.duo.client.DuoClient` does (from
:func:`adapter.duo.mapping.melding_fields`, by the zeep element's own definitions
and value types, the client's zeep settings; byte for byte what zeep renders)
and validates it with lxml against ``wsdl/verzuim.xsd``, the schema the
simulator (and DUO) judge requests by. ``wijzigen`` carries the same ``Melding``
group, so one check covers both; ``intrekken`` carries no report content.

A violation names the report field (the model's dotted path, the same paths as
:func:`adapter.domain.rules.check_melding`: ``melder.telefoonnummer``,
``verzuimdagen[1].lesuren``) and the rule (``ADAPTER_RULES[code]``) with the
adapter's own code (AD001–AD006). libxml2's messages quote the offending value,
so they are never read: only the element path and the error kind are used.

The XSD is parsed with a parser that refuses DTDs, entities and network access.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from typing import Any

import zeep
from lxml import etree

from adapter.domain.model import Verzuimmelding
from adapter.domain.rules import ADAPTER_RULES, Violation
from adapter.duo import contract, mapping
from adapter.duo.plan import plan_of, render

__all__ = ["check_schema", "SCHEMA_CODES"]

#: libxml2 error kind -> the adapter's code (anything else: AD006).
_KIND_CODES: dict[str, str] = {
    "SCHEMAV_CVC_PATTERN_VALID": "AD001",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_1": "AD001",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_2": "AD001",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_3": "AD001",
    "SCHEMAV_CVC_MAXLENGTH_VALID": "AD002",
    "SCHEMAV_CVC_LENGTH_VALID": "AD002",
    "SCHEMAV_CVC_MINLENGTH_VALID": "AD003",
    "SCHEMAV_CVC_MININCLUSIVE_VALID": "AD004",
    "SCHEMAV_CVC_MAXINCLUSIVE_VALID": "AD004",
    "SCHEMAV_CVC_MINEXCLUSIVE_VALID": "AD004",
    "SCHEMAV_CVC_MAXEXCLUSIVE_VALID": "AD004",
    "SCHEMAV_CVC_ENUMERATION_VALID": "AD005",
}
#: Every code :func:`check_schema` may return.
SCHEMA_CODES = ("AD001", "AD002", "AD003", "AD004", "AD005", "AD006")

#: XML element (local name) -> the model's field name, per parent.
_FIELDS: dict[str, str] = {
    "onderwijsdeelnemer": "student", "burgerservicenummer": "bsn",
    "vermoedelijkeReden": "vermoedelijke_reden", "actieOndernomen": "actie_ondernomen",
    "toelichtingOndernomenActie": "toelichting_actie_ondernomen",
    "toelichtingActieGewenst": "toelichting_actie_gewenst",
    "alleLessenGemist": "alle_lessen_gemist", "verzuimdag": "verzuimdagen",
    "heleDag": "hele_dag", "lesuur": "lesuren", "vervolgOpMeldingsnummer": "vervolg_op",
}
_STEP = re.compile(r"(?:[^:/\[\]]+:)?([A-Za-z_][\w.-]*)(?:\[(\d+)\])?")
_REQUEST = f"{{{contract.SCHEMA_NS}}}{contract.AANLEVEREN}_Request"
#: A fixed, valid Bedrijfsdocument block: only the report's own fields are judged.
_DOCUMENT = {
    "identificatiecodeBedrijfsdocument": "00000000-0000-4000-8000-000000000000",
    "verzendendeInstantie": "00000000000000000000",
    "ontvangendeInstantie": contract.DUO_INSTANTIE,
    "datumTijdBedrijfsdocument": mapping.utc_text(datetime(2000, 1, 1, tzinfo=timezone.utc)),
}


class _Schema:
    """The zeep element, its render plan and the compiled XSD, built once; validation
    under a lock (an lxml ``XMLSchema`` object is not thread-safe)."""

    def __init__(self) -> None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False)
        self.xsd = etree.XMLSchema(etree.parse(str(contract.XSD_PATH), parser))
        settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True, xml_huge_tree=False)
        client = zeep.Client(str(contract.WSDL_PATH), settings=settings)
        self.element: Any = client.get_element(_REQUEST)
        self.plan = plan_of(self.element.type)
        self.lock = threading.Lock()


_LOADED: _Schema | None = None
_LOAD_LOCK = threading.Lock()


def _schema() -> _Schema:
    global _LOADED
    with _LOAD_LOCK:
        if _LOADED is None:
            _LOADED = _Schema()
        return _LOADED


def request_element(melding: Verzuimmelding) -> etree._Element:
    """The ``aanleverenVerzuimmelding_Request`` body element zeep renders for ``melding``,
    rendered from the zeep element's plan (:mod:`adapter.duo.plan`): the same elements,
    order, prefix and text as zeep renders (a test compares them byte for byte), at a
    fifth of zeep's cost."""
    schema = _schema()
    root = etree.Element(_REQUEST, nsmap={"ns0": contract.SCHEMA_NS})
    render(root, schema.plan, {**_DOCUMENT, **mapping.melding_fields(melding)})
    return root


def zeep_request_element(melding: Verzuimmelding) -> etree._Element:
    """The same element, rendered by zeep itself (the reference for the tests)."""
    schema = _schema()
    holder = etree.Element("holder")
    schema.element.render(holder, schema.element(**_DOCUMENT, **mapping.melding_fields(melding)))
    return holder[0]


def field_path(xpath: str | None) -> str:
    """libxml2's element path → the model's dotted field path (no values in either).

    ``/vz:aanleverenVerzuimmelding_Request/vz:verzuimdag[2]/vz:lesuur[3]`` →
    ``verzuimdagen[1].lesuren``; the request element itself → ``melding``.
    """
    parts: list[str] = []
    for step in (xpath or "").strip("/").split("/")[1:]:
        match = _STEP.fullmatch(step)
        if match is None:
            break
        name, index = match.groups()
        field = _FIELDS.get(name, name)
        if field == "verzuimdagen":
            field = f"verzuimdagen[{int(index or 1) - 1}]"
        parts.append(field)
    return ".".join(parts) or "melding"


def check_schema(melding: Verzuimmelding) -> list[Violation]:
    """Every place where ``melding`` as sent would break DUO's XSD (empty: it fits).

    At most one violation per field (libxml2 reports a failed facet and then the
    failed type for the same element; the first, most specific, is kept).
    """
    try:
        body = request_element(melding)
    except (TypeError, ValueError, zeep.exceptions.Error):
        # zeep could not even render it (a value of the wrong kind): DUO would
        # never receive it either. The exception text may quote the value: dropped.
        return [Violation("melding", ADAPTER_RULES["AD006"], "AD006")]
    schema = _schema()
    with schema.lock:
        if schema.xsd.validate(body):
            return []
        entries = list(schema.xsd.error_log)  # type: ignore[call-overload]  # lxml-stubs: iterable
    found: list[Violation] = []
    seen: set[str] = set()
    for entry in entries:
        field = field_path(entry.path)
        if field in seen:
            continue
        seen.add(field)
        code = _KIND_CODES.get(entry.type_name, "AD006")
        found.append(Violation(field, ADAPTER_RULES[code], code))
    return found
