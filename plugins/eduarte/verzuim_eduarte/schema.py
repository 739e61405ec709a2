"""The column tables of the Eduarte-style files: the parser reads through them.

Two export kinds arrive on ``eduarte.<kind>``, told apart by their header row:

- the **registrations export** (``sis-systems.md`` §6.1, 29 columns, exactly);
- the **report export** (our design, 25 columns): the reports the school decided
  to send.

Each column is a :class:`Column`; :func:`read_value` applies its type and rule,
so the parser cannot disagree with the table. ``README.md`` repeats the tables
(a test compares them). The reason code list (:data:`REDENCODES`) and the
headers of the files written back to the SIS live here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from adapter.domain.identifiers import is_valid_brin, is_valid_bsn

from verzuim_eduarte import fields


@dataclass(frozen=True)
class Column:
    """One column: name as in the header, type, whether it may be empty, its rule.

    ``kind`` is one of ``text``, ``pattern``, ``enum``, ``int``, ``date``, ``time``,
    ``datetime``, ``jn``, ``bsn``, ``brin``, ``bijlagen``.
    """

    name: str
    kind: str
    required: bool = False
    max_len: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None


class Reden(NamedTuple):
    """One entry of the school's reason list (Eduarte ``AbsentieReden``)."""

    omschrijving: str
    absentiesoort: str   # Absent | Telaat | Verwijderd
    geoorloofd: bool
    luxe: bool = False


#: §6.1 code list: Redencode → (description, absentiesoort, geoorloofd, luxe flag).
REDENCODES: dict[str, Reden] = {
    "ZK": Reden("Ziek", "Absent", True),
    "MA": Reden("Medische afspraak", "Absent", True),
    "BV": Reden("Bijzonder verlof", "Absent", True),
    "VV": Reden("Vakantieverlof (art. 13a)", "Absent", True),
    "RV": Reden("Religieuze verplichting", "Absent", True),
    "SC": Reden("Schorsing", "Absent", True),
    "OZ": Reden("Afwezig zonder bericht", "Absent", False),
    "OG": Reden("Geen geldige reden", "Absent", False),
    "LX": Reden("Vermoedelijk luxe verzuim", "Absent", False, luxe=True),
    "TL": Reden("Te laat", "Telaat", False),
    "TG": Reden("Te laat met reden", "Telaat", True),
    "UV": Reden("Uit de les verwijderd", "Verwijderd", False),
}

ABSENTIESOORTEN = ("Absent", "Telaat", "Verwijderd")
_MELDING_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}"

#: The registrations export, §6.1, in file order.
REGISTRATION_COLUMNS: tuple[Column, ...] = (
    Column("Registratie-id", "pattern", True, pattern=r"(AM|WN)-[0-9]{1,18}"),
    Column("Registratiesoort", "enum", True, choices=("Absentiemelding", "Waarneming")),
    Column("Deelnemernummer", "pattern", True, pattern=r"[0-9]{1,9}"),
    Column("BSN", "bsn"),
    Column("Onderwijsnummer", "pattern", pattern=r"10[0-9]{7}"),
    Column("Geboortedatum", "date"),
    Column("Woongemeentecode", "pattern", pattern=r"[0-9]{4}"),
    Column("BRIN", "brin", True),
    Column("Vestiging", "pattern", pattern=r"[0-9]{2}"),
    Column("Locatie", "text", max_len=60),
    Column("Crebo", "pattern", pattern=r"[0-9]{5}"),
    Column("Leerweg", "enum", choices=("BOL", "BBL")),
    Column("Niveau", "int", low=1, high=4),
    Column("Begindatum", "date", True),
    Column("Begintijd", "time"),
    Column("Einddatum", "date"),
    Column("Eindtijd", "time"),
    Column("Beginlesuur", "int", low=1, high=12),
    Column("Eindlesuur", "int", low=1, high=12),
    Column("Minuten", "int", low=0, high=1440),
    Column("Waarnemingsoort", "enum", choices=("Aanwezig", "Afwezig", "Nvt")),
    Column("Redencode", "enum", choices=tuple(REDENCODES)),
    Column("Reden", "text", max_len=30),
    Column("Absentiesoort", "enum", choices=ABSENTIESOORTEN),
    Column("Geoorloofd", "jn"),
    Column("Afgehandeld", "jn"),
    Column("Opmerkingen", "text", max_len=1024),
    Column("Gewijzigd op", "datetime", True),
    Column("Verwijderd", "jn"),
)

#: The report export (our design), in file order. Content rules of DUO (lengths,
#: required texts, 11-proef, age) are the adapter's (``check_melding``), not repeated here.
REPORT_COLUMNS: tuple[Column, ...] = (
    Column("Melding-id", "pattern", True, pattern=_MELDING_ID),
    Column("Deelnemernummer", "pattern", True, pattern=r"[0-9]{1,9}"),
    Column("BSN", "pattern", pattern=r"[0-9]{9}"),
    Column("Onderwijsnummer", "pattern", pattern=r"[0-9]{9}"),
    Column("Geboortedatum", "date"),
    Column("BRIN", "brin", True),
    Column("Vestiging", "pattern", pattern=r"[0-9]{2}"),
    Column("Locatiecode", "pattern", pattern=r"[0-9A-Z]{1,12}"),
    Column("Verzuimsoort", "enum", True, choices=("V3", "V4", "LRV", "RMC", "L", "O", "V1", "V2")),
    Column("Begindatum", "date", True),
    Column("Einddatum", "date"),
    Column("Vermoedelijke reden", "text", max_len=1000),
    Column("Toelichting", "text", max_len=1000),
    Column("Actie ondernomen", "jn"),
    Column("Toelichting actie", "text", max_len=4000),
    Column("Actie gewenst", "text", max_len=4000),
    Column("Alle lessen gemist", "jn"),
    Column("Melder naam", "text", max_len=200),
    Column("Melder functie", "text", max_len=200),
    Column("Melder telefoon", "pattern", pattern=r"[0-9+() -]{1,20}"),
    Column("Melder e-mail", "text", max_len=200),
    Column("Vervolg op", "pattern", pattern=_MELDING_ID),
    Column("Bijlagen", "bijlagen"),
    Column("Gewijzigd op", "datetime", True),
    Column("Verwijderd", "jn"),
)

REGISTRATION_HEADER = tuple(c.name for c in REGISTRATION_COLUMNS)
REPORT_HEADER = tuple(c.name for c in REPORT_COLUMNS)

#: The terugmelding file of §6.1, plus two trailing columns of ours (README).
TERUGMELDING_HEADER = (
    "Registratie-ids", "Deelnemernummer", "Meldingsnummer DUO", "Verzuimsoort", "Begindatum",
    "Einddatum", "Status", "Reden afgesloten", "Toelichting afsluiting", "Contactpersoon naam",
    "Contactpersoon functie", "Contactpersoon telefoon", "Contactpersoon e-mail",
    "Laatste mutatie", "Contactpersoon organisatie", "Melding-id",
)
REGISTERED_HEADER = (
    "Melding-id", "Registratie-ids", "Deelnemernummer", "Meldingsnummer DUO", "Verzuimsoort",
    "Begindatum", "Einddatum", "Status", "Bewerking", "Kenmerk bedrijfsdocument", "Tijdstip",
    "Bestandsnaam",
)
REJECTED_HEADER = (
    "Melding-id", "Registratie-ids", "Deelnemernummer", "Positie", "Bewerking", "Foutcode",
    "Veld", "Regel", "Fouttekst", "Tijdstip",
)
FAILED_HEADER = (
    "Melding-id", "Registratie-ids", "Deelnemernummer", "Bewerking", "Reden", "Pogingen",
    "Tijdstip",
)
OTHER_HEADER = ("Gebeurtenis", "Melding-id", "Veld", "Waarde", "Tijdstip")

#: DUO status letter → the word the SIS shows.
STATUS_WORDS: dict[str, str] = {
    "R": "Geregistreerd", "B": "In behandeling", "G": "Afgesloten", "I": "Ingetrokken",
    "K": "Ter kennisgeving aangenomen", "D": "Overgedragen aan derden",
}

_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*/[A-Za-z0-9][A-Za-z0-9.+-]*")
_COMPILED: dict[str, re.Pattern[str]] = {}


Reader = Callable[[str], "tuple[object, str | None]"]
_READERS: dict[Column, Reader] = {}


def read_value(col: Column, text: str) -> tuple[object, str | None]:
    """Read one field through its column: ``(value, None)`` or ``(None, rule)``.

    The text is stripped first; empty gives ``(None, "required")`` for a
    required column and ``(None, None)`` otherwise.
    """
    reader = _READERS.get(col)
    if reader is None:
        reader = _READERS.setdefault(col, make_reader(col))
    return reader(text)


def make_reader(col: Column) -> Reader:
    """The reader function of one column (built once: the parser calls it per field)."""
    empty: tuple[object, str | None] = (None, "required" if col.required else None)
    typed = _typed_reader(col)

    def read(text: str) -> tuple[object, str | None]:
        text = text.strip()
        return typed(text) if text else empty
    return read


def _typed_reader(col: Column) -> Reader:
    kind = col.kind
    if kind == "text":
        limit = col.max_len if col.max_len is not None else 1 << 30
        too_long = (None, f"at most {limit} characters")
        return lambda text: (text, None) if len(text) <= limit else too_long
    if kind == "pattern":
        match = re.compile(col.pattern or "").fullmatch
        mismatch = (None, f"must match {col.pattern}")
        return lambda text: (text, None) if match(text) else mismatch
    if kind == "enum":
        choices = frozenset(col.choices)
        bad = (None, "unknown reason code" if col.name == "Redencode"
               else "must be one of " + "|".join(col.choices))
        return lambda text: (text, None) if text in choices else bad
    if kind == "int":
        low, high = col.low or 0, col.high if col.high is not None else 10**6
        bad = (None, f"must be a whole number {col.low}-{col.high}")
        digits = re.compile(r"[0-9]{1,6}").fullmatch
        return lambda text: ((int(text), None) if digits(text) and low <= int(text) <= high
                             else bad)
    if kind == "bsn":
        bad = (None, "must be 9 digits passing the 11-proef")
        return lambda text: (text, None) if is_valid_bsn(text) else bad
    if kind == "brin":
        bad = (None, "must be 2 digits and 2 capitals or digits")
        return lambda text: (text, None) if is_valid_brin(text) else bad
    simple: dict[str, Reader] = {"date": fields.read_date, "time": fields.read_time,
                                 "datetime": fields.read_datetime, "jn": fields.read_jn,
                                 "bijlagen": read_bijlagen}
    if kind in simple:
        return simple[kind]
    raise AssertionError(f"column {col.name} has unknown kind {kind}")


def read_bijlagen(text: str) -> tuple[object, str | None]:
    """``naam|mime/type|referentie`` entries separated by ``;`` → tuple of 3-tuples."""
    out = []
    for entry in text.split(";"):
        parts = [p.strip() for p in entry.split("|")]
        if len(parts) != 3 or not all(parts):
            return None, "each entry must be bestandsnaam|mime-type|referentie"
        if not _MIME.fullmatch(parts[1]):
            return None, "mime-type must look like type/subtype"
        out.append((parts[0], parts[1], parts[2]))
    return tuple(out), None
