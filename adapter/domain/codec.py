"""Canonical JSON codec: :class:`Verzuimmelding` <-> plain JSON-able dicts.

This is the storage format of the store and the wire format of the built-in
``canonical`` vendor (``docs/canonical-format.md``). Keys are the model's field
names; dates are ISO 8601 (``YYYY-MM-DD``), times ISO 8601 with offset;
``None`` fields are omitted. :func:`melding_from_dict` raises
:class:`~adapter.errors.RuleViolation` naming the field path and rule, never the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from adapter.domain.model import (
    Bijlage,
    Melder,
    Registratie,
    Student,
    Verzuimdag,
    Verzuimmelding,
    Verzuimsoort,
)
from adapter.errors import RuleViolation


def melding_to_dict(melding: Verzuimmelding) -> dict[str, Any]:
    """Encode a report as a JSON-able dict (None fields omitted)."""
    return _fields(melding)


def _fields(record: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in vars(record).items():
        encoded = _encode(value)
        if encoded is not None:
            out[name] = encoded
    return out


def _encode(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Verzuimsoort):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Student, Melder, Verzuimdag, Bijlage)):
        return {k: _encode(v) for k, v in vars(value).items() if _encode(v) is not None}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


class _Reader:
    """Collects (field, rule) violations while reading a dict."""

    def __init__(self) -> None:
        self.violations: list[tuple[str, str]] = []

    def obj(self, data: dict[str, Any], key: str, path: str) -> tuple[dict[str, Any], str]:
        """A required nested object and its path prefix ({} when missing or wrong)."""
        raw = data.get(key)
        if not isinstance(raw, dict):
            self.violations.append((f"{path}{key}", "required object"))
            raw = {}
        return raw, f"{path}{key}."

    def objects(self, data: dict[str, Any], key: str, path: str
                ) -> Iterator[tuple[dict[str, Any], str]]:
        """Each object of an optional list, with its path prefix (``key[i].``)."""
        raw_list = data.get(key) or []
        if not isinstance(raw_list, list):
            self.violations.append((f"{path}{key}", "must be a list"))
            return
        for i, raw in enumerate(raw_list):
            prefix = f"{path}{key}[{i}]."
            if isinstance(raw, dict):
                yield raw, prefix
            else:
                self.violations.append((prefix.rstrip("."), "must be an object"))

    def get(self, data: dict[str, Any], key: str, path: str, kind: str, *,
            required: bool = False) -> Any:
        where = f"{path}{key}"
        if key not in data or data[key] is None or data[key] == "":
            if required:
                self.violations.append((where, "required"))
            return None
        value = data[key]
        try:
            return _convert(value, kind)
        except (TypeError, ValueError):
            self.violations.append((where, _RULES[kind]))
            return None


_RULES = {
    "str": "must be a string", "bool": "must be true or false", "date": "must be a date YYYY-MM-DD",
    "datetime": "must be an ISO 8601 date-time", "soort": "must be a known verzuimsoort",
    "int": "must be a whole number",
}


def _convert(value: Any, kind: str) -> Any:
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if not isinstance(value, str):
        raise TypeError
    if kind == "date":
        return date.fromisoformat(value) if len(value) == 10 else _raise()
    if kind == "datetime":
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if kind == "soort":
        return Verzuimsoort(value)
    raise ValueError(kind)


def _raise() -> Any:
    raise ValueError


def melding_from_dict(data: Any, *, path: str = "$.") -> Verzuimmelding:
    """Decode a report; raise RuleViolation listing every bad field by path."""
    r = _Reader()
    if not isinstance(data, dict):
        raise RuleViolation([(path.rstrip("."), "must be an object")])
    student_raw, sp = r.obj(data, "student", path)
    student = Student(
        bsn=r.get(student_raw, "bsn", sp, "str"),
        onderwijsnummer=r.get(student_raw, "onderwijsnummer", sp, "str"),
        leerlingnummer=r.get(student_raw, "leerlingnummer", sp, "str"),
        geboortedatum=r.get(student_raw, "geboortedatum", sp, "date"),
        achternaam=r.get(student_raw, "achternaam", sp, "str"),
        voorvoegsel=r.get(student_raw, "voorvoegsel", sp, "str"),
        voornamen=r.get(student_raw, "voornamen", sp, "str"),
        gemeentecode=_gemeentecode(r, student_raw, sp),
    )
    melder_raw, mp = r.obj(data, "melder", path)
    melder = Melder(
        naam=r.get(melder_raw, "naam", mp, "str", required=True) or "",
        emailadres=r.get(melder_raw, "emailadres", mp, "str", required=True) or "",
        functie=r.get(melder_raw, "functie", mp, "str"),
        telefoonnummer=r.get(melder_raw, "telefoonnummer", mp, "str"),
    )
    dagen: list[Verzuimdag] = []
    for raw, dp in r.objects(data, "verzuimdagen", path):
        lesuren = raw.get("lesuren") or []
        if not isinstance(lesuren, list) or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in lesuren):
            r.violations.append((f"{dp}lesuren", "must be a list of whole numbers"))
            lesuren = []
        dagen.append(Verzuimdag(
            datum=r.get(raw, "datum", dp, "date", required=True) or date.min,
            hele_dag=bool(r.get(raw, "hele_dag", dp, "bool")),
            lesuren=tuple(lesuren),
        ))
    bijlagen = [Bijlage(
        bestandsnaam=r.get(raw, "bestandsnaam", bp, "str", required=True) or "",
        mime_type=r.get(raw, "mime_type", bp, "str", required=True) or "",
        referentie=r.get(raw, "referentie", bp, "str", required=True) or "",
    ) for raw, bp in r.objects(data, "bijlagen", path)]
    known = {f for f in Verzuimmelding.__dataclass_fields__}
    for key in data:
        if key not in known:
            r.violations.append((f"{path}{key}", "unknown field"))
    melding = Verzuimmelding(
        source_id=r.get(data, "source_id", path, "str", required=True) or "",
        brin=r.get(data, "brin", path, "str", required=True) or "",
        student=student,
        verzuimsoort=r.get(data, "verzuimsoort", path, "soort", required=True) or Verzuimsoort.O,
        begindatum=r.get(data, "begindatum", path, "date", required=True) or date.min,
        vermoedelijke_reden=r.get(data, "vermoedelijke_reden", path, "str", required=True) or "",
        melder=melder,
        einddatum=r.get(data, "einddatum", path, "date"),
        onderwijslocatiecode=r.get(data, "onderwijslocatiecode", path, "str"),
        toelichting=r.get(data, "toelichting", path, "str"),
        actie_ondernomen=r.get(data, "actie_ondernomen", path, "bool"),
        toelichting_actie_ondernomen=r.get(data, "toelichting_actie_ondernomen", path, "str"),
        toelichting_actie_gewenst=r.get(data, "toelichting_actie_gewenst", path, "str"),
        alle_lessen_gemist=r.get(data, "alle_lessen_gemist", path, "bool"),
        verzuimdagen=tuple(dagen),
        vervolg_op=r.get(data, "vervolg_op", path, "str"),
        bijlagen=tuple(bijlagen),
        modified_at=r.get(data, "modified_at", path, "datetime"),
        deleted=bool(r.get(data, "deleted", path, "bool")),
    )
    if r.violations:
        raise RuleViolation(r.violations, position=path.rstrip("."))
    return melding


def _gemeentecode(r: _Reader, raw: dict[str, Any], path: str) -> str | None:
    """``student.gemeentecode``: a CBS gemeentecode, 4 digits (never sent to DUO)."""
    code: str | None = r.get(raw, "gemeentecode", path, "str")
    if code is not None and not (len(code) == 4 and code.isascii() and code.isdigit()):
        r.violations.append((f"{path}gemeentecode", "must be 4 digits"))
        return None
    return code


def _student_from(r: _Reader, data: dict[str, Any], path: str) -> Student:
    raw, sp = r.obj(data, "student", path)
    for key in raw:
        if key not in Student.__dataclass_fields__:
            r.violations.append((f"{sp}{key}", "unknown field"))
    return Student(
        bsn=r.get(raw, "bsn", sp, "str"),
        onderwijsnummer=r.get(raw, "onderwijsnummer", sp, "str"),
        leerlingnummer=r.get(raw, "leerlingnummer", sp, "str"),
        geboortedatum=r.get(raw, "geboortedatum", sp, "date"),
        achternaam=r.get(raw, "achternaam", sp, "str"),
        voorvoegsel=r.get(raw, "voorvoegsel", sp, "str"),
        voornamen=r.get(raw, "voornamen", sp, "str"),
        gemeentecode=_gemeentecode(r, raw, sp),
    )


def registratie_from_json(data: Any, *, path: str = "$.") -> Registratie:
    """Decode a registration of the canonical vendor (``{"registraties": [...]}``).

    Checks types only (DUO's rules for a registration are
    :func:`adapter.domain.rules.check_registratie`); raises RuleViolation listing
    every bad field by path, never the value.
    """
    r = _Reader()
    if not isinstance(data, dict):
        raise RuleViolation([(path.rstrip("."), "must be an object")])
    student = _student_from(r, data, path)
    lesuren = data.get("lesuren") or []
    if not isinstance(lesuren, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in lesuren):
        r.violations.append((f"{path}lesuren", "must be a list of whole numbers"))
        lesuren = []
    for key in data:
        if key not in Registratie.__dataclass_fields__:
            r.violations.append((f"{path}{key}", "unknown field"))
    reg = Registratie(
        source_id=r.get(data, "source_id", path, "str", required=True) or "",
        brin=r.get(data, "brin", path, "str", required=True) or "",
        student=student,
        datum=r.get(data, "datum", path, "date", required=True) or date.min,
        lesuren=tuple(lesuren),
        hele_dag=bool(r.get(data, "hele_dag", path, "bool")),
        lessons_in_day=r.get(data, "lessons_in_day", path, "int"),
        minuten=r.get(data, "minuten", path, "int"),
        geoorloofd=r.get(data, "geoorloofd", path, "bool"),
        luxe=bool(r.get(data, "luxe", path, "bool")),
        modified_at=r.get(data, "modified_at", path, "datetime"),
        deleted=bool(r.get(data, "deleted", path, "bool")),
    )
    if reg.lessons_in_day is not None and not 1 <= reg.lessons_in_day <= 12:
        r.violations.append((f"{path}lessons_in_day", "must be between 1 and 12"))
    if reg.minuten is not None and reg.minuten < 0:
        r.violations.append((f"{path}minuten", "must not be negative"))
    if r.violations:
        raise RuleViolation(r.violations, position=path.rstrip("."))
    return reg


def registratie_to_dict(reg: Registratie) -> dict[str, Any]:
    """Encode a registration for the store (None fields omitted)."""
    return _fields(reg)


def registratie_from_dict(data: dict[str, Any]) -> Registratie:
    """Decode what :func:`registratie_to_dict` wrote (trusted: the store's own data)."""
    fields: dict[str, Any] = {k: (date.fromisoformat(v) if k == "geboortedatum" else v)
                              for k, v in data.get("student", {}).items()}
    student = Student(**fields)
    modified = data.get("modified_at")
    return Registratie(
        source_id=data["source_id"], brin=data["brin"], student=student,
        datum=date.fromisoformat(data["datum"]), lesuren=tuple(data.get("lesuren", ())),
        hele_dag=bool(data.get("hele_dag")), lessons_in_day=data.get("lessons_in_day"),
        minuten=data.get("minuten"), geoorloofd=data.get("geoorloofd"),
        luxe=bool(data.get("luxe")),
        modified_at=datetime.fromisoformat(modified) if modified else None,
        deleted=bool(data.get("deleted")))
