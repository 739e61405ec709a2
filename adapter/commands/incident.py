"""``incident ID``: DUO's helpdesk question, filled from the stored exchange.

The exchange is the report's latest one that did not end well (rejected,
duplicate, a fault, transient, unknown, system), or its latest one when all
went well. The template carries only what the helpdesk needs to find the
message in its logs and what went wrong: times, endpoint, ``wsa:MessageID``,
business-document id, operation, HTTP status, fault code and text, the
client certificate (subject, serial, expiry) and the adapter version.

It never carries personal data: nothing of the melding's content is read. The
request XML is parsed only for its ``wsa:MessageID``; the response only for
the SOAP fault (``faultcode``/``faultstring``) or DUO's functional errors
(``foutcode``/``fouttekst``). A code with a published fixed text
(:data:`adapter.duo.contract.FAULT_STRINGS`) gets that text; any other text
DUO sent is clipped and passed through the log redactor as a second net.
Both documents are parsed without DTDs, entities or network access.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from lxml import etree

from adapter import __version__
from adapter.config import Settings
from adapter.duo.contract import DUPLICATE_DOCUMENT_CODE, DUPLICATE_DOCUMENT_TEXT, \
    FAULT_STRINGS, STALE_STAMP_CODE, STALE_STAMP_TEXT
from adapter.duo.port import ExchangeRecord
from adapter.errors import AdapterError
from adapter.logging import redact_text

__all__ = ["choose_exchange", "collect_incident", "parse_faults", "render_incident",
           "request_message_id"]

WSA_NS = "http://www.w3.org/2005/08/addressing"
_TEXT_MAX = 200
_FIXED_TEXTS = {**FAULT_STRINGS, DUPLICATE_DOCUMENT_CODE: DUPLICATE_DOCUMENT_TEXT,
                STALE_STAMP_CODE: STALE_STAMP_TEXT}
_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return parser


def _parse(data: bytes | None) -> etree._Element | None:
    if not data:
        return None
    try:
        return etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError:
        return None


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def choose_exchange(exchanges: Sequence[ExchangeRecord]) -> ExchangeRecord | None:
    """The latest exchange whose outcome is not ``ok``; else the latest; None if none."""
    if not exchanges:
        return None
    for exchange in reversed(exchanges):
        if exchange.outcome != "ok":
            return exchange
    return exchanges[-1]


def request_message_id(request_xml: bytes) -> str | None:
    """The ``wsa:MessageID`` of a stored request envelope (None when absent/unreadable)."""
    root = _parse(request_xml)
    if root is None:
        return None
    found = root.find(f".//{{{WSA_NS}}}MessageID")
    return (found.text or "").strip() or None if found is not None else None


def _text_for(code: str, sent: str | None) -> str:
    if code in _FIXED_TEXTS:
        return _FIXED_TEXTS[code]
    text = " ".join((sent or "").split())
    if len(text) > _TEXT_MAX:
        text = text[:_TEXT_MAX - 1] + "…"
    return redact_text(text)


def parse_faults(response_xml: bytes | None) -> list[tuple[str, str]]:
    """DUO's (code, text) pairs in a stored response: the SOAP fault, else the
    functional errors (``foutmelding``); empty when there are none."""
    root = _parse(response_xml)
    if root is None:
        return []
    for element in root.iter():
        if _local(element) == "Fault":
            code = text = ""
            for child in element:
                if _local(child) == "faultcode":
                    code = (child.text or "").strip()
                elif _local(child) == "faultstring":
                    text = (child.text or "").strip()
            short = code.rsplit(":", 1)[-1]
            bare = short.partition(".")[2] or short
            return [(short or "-", _text_for(bare, text))]
    out: list[tuple[str, str]] = []
    for element in root.iter():
        if _local(element) == "foutmelding":
            code = text = ""
            for child in element:
                if _local(child) == "foutcode":
                    code = (child.text or "").strip()
                elif _local(child) == "fouttekst":
                    text = (child.text or "").strip()
            out.append((code or "-", _text_for(code, text)))
    return out


def _certificate(settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    """Subject, serial (hex) and expiry of the configured client certificate."""
    leaf: x509.Certificate | None = None
    try:
        from adapter.pki.certs import load_pem_chain
        leaf = load_pem_chain(settings.duo.client_cert)[0]
    except (AdapterError, OSError, ValueError):
        try:
            from adapter.pki.identity import load_credentials
            leaf = load_credentials(settings.duo, environ=environ).tls.certificate
        except (AdapterError, OSError, ValueError):
            leaf = None
    if leaf is None:
        return {"subject": None, "serial": None, "not_after": None}
    return {"subject": leaf.subject.rfc4514_string(), "serial": format(leaf.serial_number, "X"),
            "not_after": leaf.not_valid_after_utc.isoformat()}


def collect_incident(settings: Settings, report: Mapping[str, Any],
                     exchanges: Sequence[ExchangeRecord], *,
                     environ: Mapping[str, str] | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
    """The template's fields for ``report`` (``Store.report_detail``) and its exchanges.

    Raises :class:`AdapterError` when the report has no stored exchange."""
    summary = report["report"]
    exchange = choose_exchange(exchanges)
    if exchange is None:
        raise AdapterError(f"report {summary['report_id']} has no stored exchanges with DUO")
    submission = next((s for s in report.get("submissions", [])
                       if s.get("id") == exchange.submission_id), None)
    faults = parse_faults(exchange.response_xml)
    return {
        "report_id": summary["report_id"],
        "report_state": summary["state"],
        "duo_status": summary["duo_status"],
        "meldingsnummer": summary["meldingsnummer"],
        "brin": summary["brin"],
        "sender_oin": settings.school.oin,
        "endpoint": settings.duo.url,
        "operation": exchange.operation,
        "started_at": exchange.started_at.isoformat(),
        "duration_ms": exchange.duration_ms,
        "wsa_message_id": request_message_id(exchange.request_xml) or exchange.message_id,
        "document_id": exchange.document_id,
        "http_status": exchange.http_status,
        "outcome": exchange.outcome,
        "attempts": submission.get("attempts") if submission else None,
        "faults": [{"code": code, "text": text} for code, text in faults],
        "certificate": _certificate(settings, environ or {}),
        "adapter_version": __version__,
        "written_at": (now or datetime.now(UTC)).isoformat(),
        "exchanges_stored": len(exchanges),
    }


def render_incident(info: Mapping[str, Any]) -> str:
    """The helpdesk template as plain text (Dutch labels, as DUO's form asks them)."""
    cert = info["certificate"]
    faults = info["faults"] or [{"code": "-", "text": "(geen SOAP-fout of foutmelding in "
                                                     "het antwoord)"}]
    first = faults[0]["code"]
    lines = [
        f"Onderwerp: Verzuim_V1 {info['operation']} {first} "
        f"(wsa:MessageID {info['wsa_message_id'] or '-'})",
        "",
        "Vraag aan de DUO-servicedesk, machinekoppeling verzuim",
        "",
        f"Tijdstip verzoek (UTC):      {info['started_at']}",
        f"Duur (ms):                   {info['duration_ms']}",
        f"Endpoint:                    {info['endpoint']}",
        f"Operatie:                    {info['operation']}",
        f"wsa:MessageID:               {info['wsa_message_id'] or '-'}",
        f"Bedrijfsdocument-id:         {info['document_id'] or '-'}",
        f"HTTP-status:                 {info['http_status'] if info['http_status'] is not None else '-'}",
        f"Uitkomst (adapter):          {info['outcome']}",
    ]
    for fault in faults:
        lines.append(f"Foutcode en -tekst:          {fault['code']}: {fault['text']}")
    lines += [
        f"Meldingsnummer:              {info['meldingsnummer'] or '-'}",
        f"BRIN / OIN afzender:         {info['brin']} / {info['sender_oin']}",
        f"Certificaat (subject):       {cert['subject'] or 'onleesbaar'}",
        f"Certificaat (serienummer):   {cert['serial'] or '-'}",
        f"Certificaat geldig tot:      {cert['not_after'] or '-'}",
        f"Software:                    verzuim-adapter {info['adapter_version']}",
        f"Pogingen:                    {info['attempts'] if info['attempts'] is not None else '-'}",
        "",
        f"(intern: melding {info['report_id']}, toestand {info['report_state']}, "
        f"{info['exchanges_stored']} uitwisseling(en) bewaard; opgesteld {info['written_at']}."
        " Geen persoonsgegevens: de inhoud van de melding staat hier niet in.)",
    ]
    return "\n".join(lines)
