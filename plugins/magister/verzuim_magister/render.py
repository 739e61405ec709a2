"""Adapter events → Magister-style JSON objects for the SIS (PascalCase, UTC ``Z``).

Every event is one UTF-8 JSON object, content type ``application/json``, with a
common head::

    {"Soort": "Terugmelding", "BerichtId": "…", "Brin": "00AA", "MeldingId": "880101",
     "Stamnummer": "30101", "ItemIds": [7400101, …], "Verzuimsoort": "16UUR",
     "Begindatum": "2025-10-13", "Einddatum": "2025-10-31", …}

followed by the keys of the event kind (``Soort``): ``Registratie`` (registered),
``Afwijzing`` (rejected), ``Terugmelding`` (terugmelding, the §6.2 object),
``Mislukt`` (failed), ``Signaal`` (signaal). Every key of ``event.data`` is
optional; what is missing is rendered as ``null`` (lists as ``[]``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from adapter.domain.model import OutboundEvent

from verzuim_magister.schema import VERZUIMSOORTEN

CONTENT_TYPE = "application/json"
SOORT = {"registered": "Registratie", "rejected": "Afwijzing", "terugmelding": "Terugmelding",
         "failed": "Mislukt", "signaal": "Signaal"}
STATUS_WORDS = {"R": "Geregistreerd", "B": "InBehandeling", "G": "Afgesloten",
                "K": "TerKennisgevingAangenomen", "I": "Ingetrokken", "D": "OvergedragenAanDerden"}
OPERATION_WORDS = {"aanleveren": "Aanleveren", "wijzigen": "Wijzigen", "intrekken": "Intrekken"}
#: DUO code -> Magister's word (the reverse of schema.VERZUIMSOORTEN).
SOORT_WORDS = {code: word for word, code in VERZUIMSOORTEN.items()}


def render(event: OutboundEvent) -> tuple[bytes, str]:
    """``(body, content_type)`` for one event; unknown event kinds keep their own name."""
    data = event.data or {}
    doc: dict[str, Any] = {
        "Soort": SOORT.get(event.event, event.event),
        "BerichtId": event.message_id,
        "Brin": event.brin,
        "MeldingId": event.source_id,
        "Stamnummer": data.get("leerlingnummer"),
        "ItemIds": item_ids(data.get("registratie_ids")),
        "Verzuimsoort": _soort(data.get("verzuimsoort")),
        "Begindatum": data.get("begindatum"),
        "Einddatum": data.get("einddatum"),
    }
    body = _BODIES.get(event.event, _signaal)(data)
    doc.update(body)
    text = json.dumps(doc, ensure_ascii=False, default=_default)
    return text.encode("utf-8"), CONTENT_TYPE


def _registered(data: dict[str, Any]) -> dict[str, Any]:
    return {"MeldingsnummerDuo": data.get("meldingsnummer"),
            "Status": status_word(data.get("status")),
            "Bewerking": _operation(data.get("operation")),
            "DocumentId": data.get("business_document_id"),
            # an attachment (Bewerking aanleverenBijlage): its file name and DUO's id
            "Bestandsnaam": data.get("bestandsnaam"), "BijlageId": data.get("bijlage_id")}


def _rejected(data: dict[str, Any]) -> dict[str, Any]:
    errors = data.get("errors") or []
    return {"Fouten": [{"Code": e.get("code"), "Veld": e.get("field"), "Regel": e.get("rule"),
                        "Tekst": e.get("text")} for e in errors if isinstance(e, dict)],
            "Positie": data.get("position"), "Bewerking": _operation(data.get("operation"))}


def _terugmelding(data: dict[str, Any]) -> dict[str, Any]:
    """The terugmelding object of sis-systems.md §6.2, plus ``Organisatie`` of the officer."""
    officer = data.get("behandelaar") or {}
    return {"MeldingsnummerDuo": data.get("meldingsnummer"),
            "Status": status_word(data.get("status")),
            "RedenAfgesloten": data.get("reden"), "ToelichtingAfsluiting": data.get("toelichting"),
            "Contactpersoon": {"Naam": officer.get("naam"), "Functie": officer.get("functie"),
                               "Telefoon": officer.get("telefoonnummer"),
                               "Email": officer.get("emailadres"),
                               "Organisatie": officer.get("organisatie")},
            "LaatsteMutatie": utc_z(data.get("laatste_mutatie"))}


def _failed(data: dict[str, Any]) -> dict[str, Any]:
    return {"Reden": data.get("reason"), "Pogingen": data.get("attempts"),
            "Bewerking": _operation(data.get("operation"))}


def _signaal(data: dict[str, Any]) -> dict[str, Any]:
    """Any other kind: the remaining data keys, PascalCased, values unchanged."""
    skip = {"leerlingnummer", "registratie_ids", "verzuimsoort", "begindatum", "einddatum"}
    return {_pascal(k): v for k, v in data.items() if k not in skip}


_BODIES = {"registered": _registered, "rejected": _rejected, "terugmelding": _terugmelding,
           "failed": _failed}


def item_ids(registratie_ids: object) -> list[int | str]:
    """Registration source ids back to Magister item ids (``"7400101"`` → ``7400101``).

    A per-day suffix (``@2025-10-13``) is cut off and duplicates dropped; an id
    that is not numeric is kept as a string.
    """
    if not isinstance(registratie_ids, (list, tuple)):
        return []
    out: list[int | str] = []
    for raw in registratie_ids:
        text = str(raw).split("@", 1)[0]
        value: int | str = int(text) if text.isascii() and text.isdigit() else text
        if value not in out:
            out.append(value)
    return sorted(out, key=lambda v: (isinstance(v, str), v if isinstance(v, int) else 0, str(v)))


def status_word(status: object) -> str | None:
    code = getattr(status, "value", status)
    return STATUS_WORDS.get(str(code), str(code)) if code is not None else None


def utc_z(value: object) -> str | None:
    """An ISO timestamp (string or datetime) as UTC ``YYYY-MM-DDTHH:MM:SSZ``; naive = UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _soort(code: object) -> str | None:
    code = getattr(code, "value", code)
    return SOORT_WORDS.get(str(code), str(code)) if code is not None else None


def _operation(op: object) -> str | None:
    op = getattr(op, "value", op)
    return OPERATION_WORDS.get(str(op), str(op)) if op is not None else None


def _pascal(key: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in str(key).split("_"))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_z(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"event data holds a {type(value).__name__}, which is not JSON-able")
