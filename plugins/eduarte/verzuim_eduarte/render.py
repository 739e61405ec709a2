"""Events back to the SIS as Eduarte-style CSV files (one file per event).

Same conventions as the exports: UTF-8 with BOM, CRLF, ``;``, ``"…"`` quoting,
dates ``dd-mm-jjjj``, timestamps ``dd-mm-jjjj uu:mm:ss`` in local Dutch time.
Content type ``text/csv; charset=utf-8``. Every ``event.data`` key is optional:
a missing value leaves its cell empty. Headers are in :mod:`verzuim_eduarte.schema`.

- ``terugmelding`` → the terugmelding file of ``sis-systems.md`` §6.1 (one row),
  with two trailing columns of ours: ``Contactpersoon organisatie``, ``Melding-id``;
- ``registered`` → one row: the DUO meldingsnummer for the report;
- ``rejected`` → one row per error (at least one row);
- ``failed`` → one row: the adapter gave up after retries;
- any other event (``signaal``) → ``Veld;Waarde`` rows, one per data key.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from adapter.domain.model import OutboundEvent

from verzuim_eduarte import fields
from verzuim_eduarte.schema import (FAILED_HEADER, OTHER_HEADER, REGISTERED_HEADER,
                                    REJECTED_HEADER, STATUS_WORDS, TERUGMELDING_HEADER)

CONTENT_TYPE = "text/csv; charset=utf-8"


def render(event: OutboundEvent) -> tuple[bytes, str]:
    """``(body, content_type)`` of one event; see the module docstring."""
    data: Mapping[str, Any] = event.data if isinstance(event.data, Mapping) else {}
    kind = event.event
    if kind == "terugmelding":
        return fields.write_csv(TERUGMELDING_HEADER, [_terugmelding(event, data)]), CONTENT_TYPE
    common = (event.source_id or "", _ids(data), _text(data.get("leerlingnummer")))
    stamp = fields.fmt_datetime(event.created_at)
    if kind == "registered":
        row = [*common, _text(data.get("meldingsnummer")), _text(data.get("verzuimsoort")),
               fields.fmt_date(data.get("begindatum")), fields.fmt_date(data.get("einddatum")),
               _status(data.get("status")), _text(data.get("operation")),
               _text(data.get("business_document_id")), stamp, _text(data.get("bestandsnaam"))]
        return fields.write_csv(REGISTERED_HEADER, [row]), CONTENT_TYPE
    if kind == "rejected":
        errors = data.get("errors")
        errors = [e for e in errors if isinstance(e, Mapping)] if isinstance(errors, list) else []
        rows = [[*common, _text(data.get("position")), _text(data.get("operation")),
                 _text(e.get("code")), _text(e.get("field")), _text(e.get("rule")),
                 _text(e.get("text")), stamp] for e in errors or [{}]]
        return fields.write_csv(REJECTED_HEADER, rows), CONTENT_TYPE
    if kind == "failed":
        row = [*common, _text(data.get("operation")), _text(data.get("reason")),
               _text(data.get("attempts")), stamp]
        return fields.write_csv(FAILED_HEADER, [row]), CONTENT_TYPE
    rows = [[kind, event.source_id or "", key, _text(value), stamp]
            for key, value in data.items()] or [[kind, event.source_id or "", "", "", stamp]]
    return fields.write_csv(OTHER_HEADER, rows), CONTENT_TYPE


def _terugmelding(event: OutboundEvent, data: Mapping[str, Any]) -> list[str]:
    officer = data.get("behandelaar")
    officer = officer if isinstance(officer, Mapping) else {}
    return [_ids(data), _text(data.get("leerlingnummer")), _text(data.get("meldingsnummer")),
            _text(data.get("verzuimsoort")), fields.fmt_date(data.get("begindatum")),
            fields.fmt_date(data.get("einddatum")), _status(data.get("status")),
            _text(data.get("reden")), _text(data.get("toelichting")),
            _text(officer.get("naam")), _text(officer.get("functie")),
            _text(officer.get("telefoonnummer")), _text(officer.get("emailadres")),
            fields.fmt_datetime(data.get("laatste_mutatie")),
            _text(officer.get("organisatie")), event.source_id or ""]


def _ids(data: Mapping[str, Any]) -> str:
    """``registratie_ids`` joined with commas (a string is taken as is)."""
    ids = data.get("registratie_ids")
    if isinstance(ids, (list, tuple)):
        return ",".join(str(i) for i in ids)
    return _text(ids)


def _status(value: object) -> str:
    """DUO's status letter as the SIS's word; an unknown value is passed on unchanged."""
    text = _text(value)
    return STATUS_WORDS.get(text, text)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):  # Status, Verzuimsoort, Operation
        value = value.value
    if isinstance(value, bool):
        return fields.fmt_jn(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return str(value)
