"""The key tables of the Magister-style export, and the checker that applies them.

Every object of the export (``Export``, a ``Leerlingen`` entry, an ``Items``
entry with its ``Afspraak``, a ``Meldingen`` entry with its ``Melder`` and
``Bijlagen``) is described by a tuple of :class:`Key`. :func:`check` is the
only place values are validated, so the README tables, these tables and the
parser cannot drift apart unnoticed (``tests/test_schema.py``).

Unknown keys are ignored: Magister's API carries many more (``Lokatie``,
``Docenten``, ``DuurtHeleDag`` …) and a newer export may add some.
Violations are ``(json path, rule)`` pairs; no value is ever quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

#: kinds: string, int, bool, date, timestamp, id (int or string), object, array
@dataclass(frozen=True)
class Key:
    name: str
    kind: str
    required: bool = False     # the key must be present and not null
    max_len: int | None = None
    pattern: str | None = None
    pattern_rule: str = ""
    choices: tuple[Any, ...] | None = None
    of: tuple[Key, ...] | None = None  # members of an object, or of each array element


_NINE = r"[0-9]{9}"
#: ISO 8601 with ``Z`` or an explicit offset, and any number of fractional digits
#: (.NET's DateTimeOffset writes seven: ``2025-10-09T14:03:11.1234567+02:00``).
#: A naive time (no zone) is ambiguous around the DST switch and is refused.
_TIMESTAMP = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?"
                        r"(Z|[+-][0-9]{2}:[0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

#: School reason codes of the sample setup (§6.2): code -> (Verantwoordingtype, geoorloofd, luxe).
#: ``None`` for geoorloofd: the code is not about absence (BV/HV) and is ignored.
CODES: dict[str, tuple[int, bool | None, bool]] = {
    "A": (1, False, False), "S": (1, False, False), "LV": (1, False, True),
    "L": (2, False, False), "T": (2, True, False), "Z": (3, True, False),
    "M": (1, True, False), "U": (4, False, False), "V": (1, True, False),
    "VR": (6, True, False), "BV": (7, None, False), "HV": (8, None, False),
}
#: Magister's words for the kind of report -> DUO verzuimsoort code.
VERZUIMSOORTEN: dict[str, str] = {
    "16UUR": "V3", "16UUR18PLUS": "V4", "LRV": "LRV", "LUXE": "L", "RMC18": "RMC", "OVERIG": "O",
}
VERANTWOORDINGTYPES = (1, 2, 3, 4, 5, 6, 7, 8)

EXPORT: tuple[Key, ...] = (
    Key("Brin", "string", required=True, pattern=r"[0-9]{2}[A-Z0-9]{2}",
        pattern_rule="must be 2 digits and 2 capitals or digits"),
    Key("Vestiging", "string", max_len=10),
    Key("AangemaaktOp", "timestamp"),
    Key("Van", "date"),
    Key("Tot", "date"),
)
LEERLING: tuple[Key, ...] = (
    Key("Stamnummer", "string", required=True, max_len=20),
    Key("Bsn", "string", pattern=_NINE, pattern_rule="must be 9 digits"),
    Key("Onderwijsnummer", "string", pattern=_NINE, pattern_rule="must be 9 digits"),
    Key("Geboortedatum", "date"),
    Key("WoonGemeenteCode", "string", pattern=r"[0-9]{4}", pattern_rule="must be 4 digits"),
    Key("Studie", "string"),
    Key("Klas", "string"),
)
VAK: tuple[Key, ...] = (Key("Naam", "string"),)
AFSPRAAK: tuple[Key, ...] = (
    Key("Id", "int"),
    Key("Start", "timestamp"),
    Key("Einde", "timestamp"),
    Key("LesuurVan", "int"),
    Key("LesuurTotMet", "int"),
    Key("Type", "int", required=True),
    Key("Status", "int", required=True),
    Key("Omschrijving", "string"),
    Key("Vakken", "array", of=VAK),
)
ITEM: tuple[Key, ...] = (
    Key("Id", "int", required=True),
    Key("Stamnummer", "string", required=True, max_len=20),
    Key("Start", "timestamp", required=True),
    Key("Eind", "timestamp", required=True),
    Key("Lesuur", "int"),
    Key("AfspraakId", "int"),
    Key("Code", "string", required=True, max_len=4, choices=tuple(CODES)),
    Key("Omschrijving", "string"),
    Key("Verantwoordingtype", "int", required=True, choices=VERANTWOORDINGTYPES),
    Key("Geoorloofd", "bool", required=True),
    Key("LuxeVerzuim", "bool"),
    Key("Afgehandeld", "bool"),
    Key("Opmerking", "string"),
    Key("GewijzigdOp", "timestamp"),
    Key("Verwijderd", "bool"),
    Key("Afspraak", "object", required=True, of=AFSPRAAK),
)
MELDER: tuple[Key, ...] = (
    Key("Naam", "string"), Key("Functie", "string"), Key("Telefoon", "string"),
    Key("Email", "string"),
)
BIJLAGE: tuple[Key, ...] = (
    Key("Bestandsnaam", "string", required=True, max_len=255),
    Key("MimeType", "string", required=True, max_len=100),
    Key("Referentie", "string", required=True, max_len=1000),
)
MELDING: tuple[Key, ...] = (
    Key("Id", "id", required=True),
    Key("Stamnummer", "string", required=True, max_len=20),
    Key("Verzuimsoort", "string", required=True, choices=tuple(VERZUIMSOORTEN)),
    Key("Begindatum", "date", required=True),
    Key("Einddatum", "date"),
    Key("VermoedelijkeReden", "string"),
    Key("Toelichting", "string"),
    Key("ActieOndernomen", "bool"),
    Key("ToelichtingActie", "string"),
    Key("ActieGewenst", "string"),
    Key("AlleLessenGemist", "bool"),
    Key("Melder", "object", of=MELDER),
    Key("VervolgOp", "id"),
    Key("Bijlagen", "array", of=BIJLAGE),
    Key("Locatiecode", "string", max_len=20),
    Key("GewijzigdOp", "timestamp"),
    Key("Verwijderd", "bool"),
)
TABLES: dict[str, tuple[Key, ...]] = {
    "Export": EXPORT, "Leerling": LEERLING, "Item": ITEM, "Afspraak": AFSPRAAK, "Vak": VAK,
    "Melding": MELDING, "Melder": MELDER, "Bijlage": BIJLAGE,
}

Violations = list[tuple[str, str]]


def check(obj: object, keys: tuple[Key, ...], path: str) -> tuple[dict[str, Any], Violations]:
    """Validate ``obj`` against ``keys``; return (converted values, violations).

    Converted: dates become ``date``, timestamps aware UTC ``datetime``, ids
    ``str``; absent and ``null`` both become ``None``; nested objects are
    converted dicts, arrays lists of them. Unknown keys are dropped.
    """
    if not isinstance(obj, dict):
        return {}, [(path, "must be an object")]
    out: dict[str, Any] = {}
    violations: Violations = []
    for key in keys:
        where = f"{path}.{key.name}"
        value = obj.get(key.name)
        if value is None:
            if key.required:
                violations.append((where, "is required"))
            out[key.name] = None
            continue
        converted, rule = _value(value, key, where, violations)
        if rule:
            violations.append((where, rule))
        out[key.name] = converted
    return out, violations


def _value(value: object, key: Key, where: str, violations: Violations) -> tuple[Any, str]:
    kind = key.kind
    if kind == "object":
        sub, errs = check(value, key.of or (), where)
        violations.extend(errs)
        return sub, ""
    if kind == "array":
        if not isinstance(value, list):
            return None, "must be a list"
        items = []
        for i, element in enumerate(value):
            sub, errs = check(element, key.of or (), f"{where}[{i}]")
            violations.extend(errs)
            items.append(sub)
        return items, ""
    if kind == "bool":
        return (value, "") if isinstance(value, bool) else (None, "must be true or false")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return None, "must be an integer"
        if key.choices is not None and value not in key.choices:
            return None, "is not one of the known values"
        return value, ""
    if kind == "id":
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value), ""
        if isinstance(value, str) and value.strip() and len(value) <= 64:
            return value.strip(), ""
        return None, "must be a positive integer or a string of at most 64 characters"
    if not isinstance(value, str):
        return None, "must be a string"
    if kind == "date":
        return _date(value)
    if kind == "timestamp":
        return _timestamp(value)
    if key.max_len is not None and len(value) > key.max_len:
        return None, f"at most {key.max_len} characters"
    if key.pattern is not None and re.fullmatch(key.pattern, value) is None:
        return None, key.pattern_rule or "has the wrong format"
    if key.choices is not None and value not in key.choices:
        return None, "is not one of the known values"
    return value, ""


def _date(text: str) -> tuple[date | None, str]:
    if _DATE.fullmatch(text) is None:
        return None, "must be a date YYYY-MM-DD"
    try:
        return date.fromisoformat(text), ""
    except ValueError:
        return None, "is not a valid date"


def _timestamp(text: str) -> tuple[datetime | None, str]:
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None, "must be a timestamp YYYY-MM-DDTHH:MM:SS with Z or an offset"
    clock, fraction, zone = match.groups()
    # Microseconds are all a datetime holds: further digits are cut, not rounded.
    micro = f".{(fraction + '00000')[:6]}" if fraction else ""
    try:
        moment = datetime.fromisoformat(clock + micro + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None, "is not a valid timestamp"
    return moment.astimezone(timezone.utc), ""


def key_names(keys: tuple[Key, ...]) -> list[str]:
    """The key names of a table, in order (used by the README consistency test)."""
    return [k.name for k in keys]
