"""The simulator's content rules for one report, written from the reference notes.

Sources: ``reference/duo-verzuim.md`` §1.3 (identifiers), §2.4 (fields), §2.5
(verzuimdagspecificatie), §2.8–2.10 (codes, rules, checks). DUO's own list of
functional checks is **not public** (§2.10 [?]): every check below is the
simulator's reading of the notes, tagged with the notes' evidence, and every
*code* is our own [I] — the client's pre-check uses the same ``VZ0xx`` numbers so
the school sees one vocabulary; DUO's real codes replace these once known.

What the XSD already refuses (DK0004, before any rule) is not repeated here:
exactly one of BSN/onderwijsnummer, the BRIN pattern, legacy V1/V2 (not in the
request enumeration), a verzuimdag's choice of heleDag or lesuren 1..12, lengths
of naam (100), functie (60) and vermoedelijkeReden (200).

:func:`check_report` returns ``(code, field, text)`` triples: ``field`` names the
request element (path), ``text`` the rule (Dutch, as DUO answers); never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from adapter.simulator.model import Report, Soort

Fout = tuple[str, str, str]          # (code, field, text)

_DIGITS9 = re.compile(r"[0-9]{9}")
# RIO onderwijslocatiecode (110X912) or BRIN6 (29ZT00): §1.3 — which one verzuim uses is [?].
_LOCATIECODE = re.compile(r"[0-9]{3}[A-Z][0-9]{3}|[0-9]{2}[A-Z0-9]{2}[0-9]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)

#: Verzuimsoorten by age on the begindatum (§2.10 [I], from §2.8/§2.9 rule 5 [F]):
#: under 18 V3 and LRV; from 18 V4 and, under 23, RMC; L and O at any age.
_UNDER_18 = frozenset({Soort.V3, Soort.LRV, Soort.L, Soort.O})
_18_TO_22 = frozenset({Soort.V4, Soort.RMC, Soort.L, Soort.O})
_FROM_23 = frozenset({Soort.V4, Soort.L, Soort.O})
#: §2.9 rule 6 [F]: einddatum mandatory for the 16-hour reports at submission;
#: for LRV/RMC it may follow later by a wijziging [I].
_NEEDS_EINDDATUM = frozenset({Soort.V3, Soort.V4})
#: Eduarte's column lengths (§2.4, "(E)"): toelichting ≤100 is [?]; the XSD allows more.
_TOELICHTING_MAX = 100


def bsn_ok(value: str) -> bool:
    """11-proef: (9p1+8p2+…+2p8 − p9) mod 11 = 0, not all zeros (§1.3 [F])."""
    if not _DIGITS9.fullmatch(value) or value == "000000000":
        return False
    return (sum(w * int(d) for w, d in zip(_WEIGHTS, value)) - int(value[8])) % 11 == 0


def onderwijsnummer_ok(value: str) -> bool:
    """(9p1+…+2p8) mod 11 = p9 + 5, literally, so p9 ≤ 5 (§1.3 [F] rule, [I] strictness)."""
    if not _DIGITS9.fullmatch(value):
        return False
    return sum(w * int(d) for w, d in zip(_WEIGHTS, value)) % 11 == int(value[8]) + 5


def age_on(birth: date, day: date) -> int:
    """Whole years on ``day``; a 29 February birthday counts on 1 March in other years."""
    years = day.year - birth.year
    return years - 1 if (day.month, day.day) < (birth.month, birth.day) else years


def soorten_for_age(age: int) -> frozenset[Soort]:
    if age < 18:
        return _UNDER_18
    return _18_TO_22 if age < 23 else _FROM_23


def _pupil(r: Report) -> Iterator[Fout]:
    if r.pupil.bsn is not None and not bsn_ok(r.pupil.bsn):
        yield "VZ002", "burgerservicenummer", "burgerservicenummer voldoet niet aan de 11-proef"
    if r.pupil.onderwijsnummer is not None and not onderwijsnummer_ok(r.pupil.onderwijsnummer):
        yield "VZ003", "onderwijsnummer", "onderwijsnummer voldoet niet aan de controle"
    code = r.onderwijslocatiecode
    if code is not None and not _LOCATIECODE.fullmatch(code):
        yield "VZ005", "onderwijslocatiecode", "onderwijslocatiecode is geen RIO-code of BRIN6"


def _soort_and_dates(r: Report, birth: date | None, today: date) -> Iterator[Fout]:
    """Age on the begindatum (§2.9 rule 12 [I]), period (§2.10 [I]), einddatum (§2.9 rule 6)."""
    if birth is not None:
        if birth >= r.begindatum:
            yield "VZ008", "geboortedatum", "geboortedatum ligt niet voor de begindatum"
        elif r.soort not in soorten_for_age(age_on(birth, r.begindatum)):
            yield "VZ007", "verzuimsoort", "verzuimsoort past niet bij de leeftijd op begindatum"
    if r.einddatum is None:
        if r.soort in _NEEDS_EINDDATUM:
            yield "VZ009", "einddatum", "einddatum is verplicht voor deze verzuimsoort"
    else:
        if r.einddatum < r.begindatum:
            yield "VZ010", "einddatum", "einddatum ligt voor de begindatum"
        if r.einddatum > today:
            yield "VZ012", "einddatum", "einddatum ligt in de toekomst"
    if r.begindatum > today:
        yield "VZ011", "begindatum", "begindatum ligt in de toekomst"


def _days(r: Report, today: date) -> Iterator[Fout]:
    """§2.5: dates within the period [I], no date twice [C], no lesuur twice [I]."""
    last = r.einddatum if r.einddatum is not None else today
    seen: set[date] = set()
    for i, day in enumerate(r.dagen):
        where = f"verzuimdag[{i + 1}]"
        if not r.begindatum <= day.datum <= last:
            yield "VZ013", f"{where}/datum", "verzuimdag ligt buiten de periode van de melding"
        if day.datum in seen:
            yield "VZ014", f"{where}/datum", "verzuimdag komt twee keer voor"
        seen.add(day.datum)
        if len(set(day.lesuren)) != len(day.lesuren):
            yield "VZ018", f"{where}/lesuur", "lesuur komt twee keer voor"


def _texts(r: Report) -> Iterator[Fout]:
    """§2.4: melder naam and e-mail required [C], reason required [C], the action rule [C]."""
    if not r.melder.naam.strip():
        yield "VZ019", "melder/naam", "naam melder is verplicht"
    if not r.melder.emailadres.strip():
        yield "VZ020", "melder/emailadres", "e-mailadres melder is verplicht"
    elif not _EMAIL.fullmatch(r.melder.emailadres):
        yield "VZ021", "melder/emailadres", "e-mailadres melder is geen e-mailadres"
    if not r.vermoedelijke_reden.strip():
        yield "VZ022", "vermoedelijkeReden", "vermoedelijke reden is verplicht"
    if r.actie_ondernomen is False and not (r.toelichting_actie_gewenst or "").strip():
        yield ("VZ023", "toelichtingActieGewenst",
               "toelichting gewenste actie is verplicht als geen actie is ondernomen")
    if r.toelichting is not None and len(r.toelichting) > _TOELICHTING_MAX:
        yield "VZ032", "toelichting", "toelichting is langer dan 100 tekens"


def check_report(r: Report, *, birth: date | None, today: date) -> list[Fout]:
    """Every content rule ``r`` breaks, in a stable order (empty: acceptable).

    ``birth`` is the student's birth date as DUO knows it (the request's, else its
    ROD's: [I]); age rules are skipped without one. ``today`` is DUO's date
    (Europe/Amsterdam).
    """
    return [*_pupil(r), *_soort_and_dates(r, birth, today), *_days(r, today), *_texts(r)]
