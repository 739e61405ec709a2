"""DUO's business rules for a verzuimmelding, as pure functions (no I/O, no clock).

Sources: ``reference/duo-verzuim.md`` §1.3 (identifiers), §2.4 (fields and
lengths), §2.5 (verzuimdagspecificatie), §2.8–2.10 (codes, rules, checks).
The adapter runs :func:`check_melding` before storing a report; the DUO
simulator runs the same function on what it receives, so both sides agree.

A :class:`Violation` names the field (the model's dotted path, e.g.
``student.bsn`` or ``verzuimdagen[2].lesuren``), the rule (``RULES[code]``)
and a stable code. It never carries the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from typing import NamedTuple

from adapter.domain.identifiers import (
    is_valid_brin,
    is_valid_bsn,
    is_valid_onderwijsnummer,
)
from adapter.domain.model import Registratie, Status, Student, Verzuimmelding, Verzuimsoort
from adapter.errors import RuleViolation


class Violation(NamedTuple):
    """One broken rule: where (dotted field path), which rule (phrase), stable code."""

    field: str
    rule: str
    code: str


#: Every rule this module checks: stable code -> human phrase (never a value).
RULES: dict[str, str] = {
    "VZ001": "exactly one of bsn and onderwijsnummer is required",
    "VZ002": "bsn must be 9 digits passing the 11-proef",
    "VZ003": "onderwijsnummer must be 9 digits passing the onderwijsnummer check",
    "VZ004": "BRIN must be 2 digits followed by 2 capitals or digits",
    "VZ005": "onderwijslocatiecode must be a RIO code (3 digits, capital, 3 digits) or a BRIN6",
    "VZ006": "legacy verzuimsoort V1/V2 is never sent",
    "VZ007": "verzuimsoort is not allowed for the student's age on begindatum",
    "VZ008": "geboortedatum must lie before begindatum",
    "VZ009": "einddatum is required for V3 and V4",
    "VZ010": "einddatum must not lie before begindatum",
    "VZ011": "begindatum must not lie in the future",
    "VZ012": "einddatum must not lie in the future",
    "VZ013": "verzuimdag must lie within the report period",
    "VZ014": "verzuimdag dates must be unique",
    "VZ015": "a verzuimdag is either a whole day or lesuren, not both",
    "VZ016": "lesuren are required when the verzuimdag is not a whole day",
    "VZ017": "lesuren must be between 1 and 12",
    "VZ018": "lesuren must be unique",
    "VZ019": "melder naam is required",
    "VZ020": "melder emailadres is required",
    "VZ021": "melder emailadres must be an e-mail address",
    "VZ022": "vermoedelijke_reden is required",
    "VZ023": "toelichting_actie_gewenst is required when no action was undertaken",
    "VZ030": "at most 10 characters",
    "VZ031": "at most 60 characters",
    "VZ032": "at most 100 characters",
    "VZ033": "at most 200 characters",
}

#: The adapter's own refusals, outside DUO's business rules: stable code -> phrase.
#: They judge a report against what the store knows (its earlier reports, DUO's
#: status) or DUO's schema, before anything is sent. Ranges: AD001–AD019 schema
#: and intake, AD020–AD029 follow-ups, AD030–AD039 amendments and withdrawals,
#: AD040–AD049 attachments.
ADAPTER_RULES: dict[str, str] = {
    "AD001": "value does not match DUO's schema type or pattern",
    "AD002": "longer than DUO's schema allows",
    "AD003": "empty where DUO's schema requires a value",
    "AD004": "outside the range DUO's schema allows",
    "AD005": "not one of the values DUO's schema allows",
    "AD006": "does not fit DUO's schema (an element missing, repeated or out of place)",
    "AD010": "the record does not fit the vendor's export format",
    "AD011": "not a school this adapter sends for",
    "AD012": "the request for DUO could not be built from the report",
    "AD020": "vervolg_op names no report of this vendor and school",
    "AD021": "vervolg_op names a report of another student",
    "AD022": "vervolg_op names a report that is not registered at DUO (rejected, failed or withdrawn)",
    "AD023": "a follow-up must begin at least 7 calendar days after the begindatum of the report it continues",
    "AD030": "DUO closed this report (status G, K or I): it can no longer be amended or withdrawn",
    "AD040": "attachment larger than [attachments] max_bytes (DUO takes at most 5 MiB)",
    "AD041": "attachment type, judged by its content, is not one of [attachments] allowed",
    "AD042": "bestandsnaam is required: 1 to 200 characters, no / or \\",
    "AD043": "attachment names no report of this vendor and school (source_id header)",
    "AD044": "the report of this attachment was not registered at DUO (rejected, failed or withdrawn)",
}

#: DUO's field lengths (§2.4); fields not listed have no documented limit.
MAX_LENGTHS: dict[str, int] = {
    "student.achternaam": 200,
    "student.voorvoegsel": 10,
    "student.voornamen": 200,
    "melder.naam": 100,
    "melder.functie": 60,
    "melder.emailadres": 100,
    "vermoedelijke_reden": 200,
    "toelichting": 100,
}
_LENGTH_CODES = {10: "VZ030", 60: "VZ031", 100: "VZ032", 200: "VZ033"}

_UNDER_18 = frozenset({Verzuimsoort.V3, Verzuimsoort.LRV, Verzuimsoort.L, Verzuimsoort.O})
_18_TO_22 = frozenset({Verzuimsoort.V4, Verzuimsoort.RMC, Verzuimsoort.L, Verzuimsoort.O})
_FROM_23 = frozenset({Verzuimsoort.V4, Verzuimsoort.L, Verzuimsoort.O})
_NEEDS_EINDDATUM = frozenset({Verzuimsoort.V3, Verzuimsoort.V4})
_LOCATIECODE = re.compile(r"[0-9]{3}[A-Z][0-9]{3}|[0-9]{2}[A-Z0-9]{2}[0-9]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


_CODE_OF_RULE: dict[str, str] = {rule: code for code, rule in (*RULES.items(),
                                                               *ADAPTER_RULES.items())}


def code_for(rule: str) -> str:
    """The code of a rule phrase: its ``VZ…``/``AD…`` code when it is one of ours,
    else ``AD010`` (a vendor plugin's own format rule)."""
    return _CODE_OF_RULE.get(rule, "AD010")


def with_codes(violations: Iterable[tuple[str, str]]) -> tuple[Violation, ...]:
    """(field, rule) pairs (a vendor plugin's ``RowRejection``) as coded violations."""
    return tuple(Violation(field, rule, code_for(rule)) for field, rule in violations)


def _v(field: str, code: str) -> Violation:
    return Violation(field, RULES[code], code)


def age_on(birth: date, day: date) -> int:
    """Age in whole years on ``day`` (negative when ``day`` precedes ``birth``).

    A birthday on 29 February counts as reached on 1 March in non-leap years.
    """
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years


def allowed_soorten(age: int) -> frozenset[Verzuimsoort]:
    """The verzuimsoorten DUO accepts for a student of ``age`` on the begindatum.

    Under 18: V3, LRV; from 18: V4 and, under 23, RMC; L and O at any age.
    Legacy V1/V2 are never allowed.
    """
    if age < 18:
        return _UNDER_18
    if age < 23:
        return _18_TO_22
    return _FROM_23


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def check_registratie(reg: Registratie) -> list[Violation]:
    """Every rule a registration of the SIS breaks (empty list: it may fill reports' days).

    The student and school rules of a report (VZ001–VZ004) and, unless it is a
    deletion, its lesson hours: a whole day or lesuren (VZ016), 1–12 (VZ017),
    each once (VZ018). A registration may carry both ``hele_dag`` and the
    lesuren it covers (the plugins do).
    """
    out = list(_student_of(reg.student))
    if not is_valid_brin(reg.brin):
        out.append(_v("brin", "VZ004"))
    if reg.deleted:
        return out
    if not reg.hele_dag and not reg.lesuren:
        out.append(_v("lesuren", "VZ016"))
    if any(not 1 <= uur <= 12 for uur in reg.lesuren):
        out.append(_v("lesuren", "VZ017"))
    if len(set(reg.lesuren)) != len(reg.lesuren):
        out.append(_v("lesuren", "VZ018"))
    return out


def _student(m: Verzuimmelding) -> Iterator[Violation]:
    return _student_of(m.student)


def _student_of(s: Student) -> Iterator[Violation]:
    has_bsn, has_onr = not _blank(s.bsn), not _blank(s.onderwijsnummer)
    if has_bsn == has_onr:
        yield _v("student", "VZ001")
    if has_bsn and not is_valid_bsn(s.bsn):
        yield _v("student.bsn", "VZ002")
    if has_onr and not is_valid_onderwijsnummer(s.onderwijsnummer):
        yield _v("student.onderwijsnummer", "VZ003")


def _school(m: Verzuimmelding) -> Iterator[Violation]:
    if not is_valid_brin(m.brin):
        yield _v("brin", "VZ004")
    code = m.onderwijslocatiecode
    if code is not None and not _LOCATIECODE.fullmatch(code):
        yield _v("onderwijslocatiecode", "VZ005")


def _soort_and_dates(m: Verzuimmelding, today: date) -> Iterator[Violation]:
    soort = m.verzuimsoort
    if soort.legacy:
        yield _v("verzuimsoort", "VZ006")
    birth = m.student.geboortedatum
    if birth is not None:
        if birth >= m.begindatum:
            yield _v("student.geboortedatum", "VZ008")
        elif not soort.legacy and soort not in allowed_soorten(age_on(birth, m.begindatum)):
            yield _v("verzuimsoort", "VZ007")
    if m.einddatum is None:
        if soort in _NEEDS_EINDDATUM:
            yield _v("einddatum", "VZ009")
    else:
        if m.einddatum < m.begindatum:
            yield _v("einddatum", "VZ010")
        if m.einddatum > today:
            yield _v("einddatum", "VZ012")
    if m.begindatum > today:
        yield _v("begindatum", "VZ011")


def _days(m: Verzuimmelding, today: date) -> Iterator[Violation]:
    last = m.einddatum if m.einddatum is not None else today
    seen: set[date] = set()
    for i, dag in enumerate(m.verzuimdagen):
        where = f"verzuimdagen[{i}]"
        if not m.begindatum <= dag.datum <= last:
            yield _v(f"{where}.datum", "VZ013")
        if dag.datum in seen:
            yield _v(f"{where}.datum", "VZ014")
        seen.add(dag.datum)
        if dag.hele_dag:
            if dag.lesuren:
                yield _v(f"{where}.lesuren", "VZ015")
            continue
        if not dag.lesuren:
            yield _v(f"{where}.lesuren", "VZ016")
        elif any(not 1 <= uur <= 12 for uur in dag.lesuren):
            yield _v(f"{where}.lesuren", "VZ017")
        if len(set(dag.lesuren)) != len(dag.lesuren):
            yield _v(f"{where}.lesuren", "VZ018")


def _texts(m: Verzuimmelding) -> Iterator[Violation]:
    if _blank(m.melder.naam):
        yield _v("melder.naam", "VZ019")
    if _blank(m.melder.emailadres):
        yield _v("melder.emailadres", "VZ020")
    elif not _EMAIL.fullmatch(m.melder.emailadres):
        yield _v("melder.emailadres", "VZ021")
    if _blank(m.vermoedelijke_reden):
        yield _v("vermoedelijke_reden", "VZ022")
    if m.actie_ondernomen is False and _blank(m.toelichting_actie_gewenst):
        yield _v("toelichting_actie_gewenst", "VZ023")
    values = {
        "student.achternaam": m.student.achternaam, "student.voorvoegsel": m.student.voorvoegsel,
        "student.voornamen": m.student.voornamen, "melder.naam": m.melder.naam,
        "melder.functie": m.melder.functie, "melder.emailadres": m.melder.emailadres,
        "vermoedelijke_reden": m.vermoedelijke_reden, "toelichting": m.toelichting,
    }
    for field, value in values.items():
        limit = MAX_LENGTHS[field]
        if value is not None and len(value) > limit:
            yield _v(field, _LENGTH_CODES[limit])


def check_melding(m: Verzuimmelding, *, today: date) -> list[Violation]:
    """Every rule ``m`` breaks, in a stable order (empty list: the report may be sent).

    ``today`` is the caller's date (Europe/Amsterdam) so the function stays pure.
    Age rules apply only when ``student.geboortedatum`` is known; DUO checks
    the age against its own registry (ROD) in any case.
    """
    return [*_student(m), *_school(m), *_soort_and_dates(m, today), *_days(m, today),
            *_texts(m)]


def raise_for_violations(m: Verzuimmelding, *, today: date, position: str | None = None) -> None:
    """Raise :class:`RuleViolation` with every (field, rule) pair when ``m`` breaks a rule."""
    violations = check_melding(m, today=today)
    if violations:
        raise RuleViolation([(v.field, v.rule) for v in violations], position=position)


def check_status_sendable(status: Status) -> None:
    """Refuse to send the legacy status ``D`` (overgedragen aan derden; not settable since 2020)."""
    if status is Status.D:
        raise RuleViolation([("status", "legacy status D is never sent")])
