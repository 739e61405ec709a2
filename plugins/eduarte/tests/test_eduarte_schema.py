"""The column tables: README, schema and parser must agree (a test fails when they drift)."""

from __future__ import annotations

import re

import pytest

from verzuim_eduarte.schema import (REDENCODES, REGISTRATION_COLUMNS, REPORT_COLUMNS,
                                    TERUGMELDING_HEADER, Column, read_value)

from eduarte_support import DEMO, EXAMPLE, PLUGIN

README = (PLUGIN / "README.md").read_text(encoding="utf-8")


def _table(heading: str) -> list[list[str]]:
    """Rows of the markdown table under ``heading`` (cells unescaped, backticks removed)."""
    section = README.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        if re.match(r"\|\s*(\d+|`[A-Z]{2}`)\s*\|", line):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            rows.append([c.strip().replace("\\|", "|").replace("`", "") for c in cells])
    return rows


def _type_text(col: Column) -> str:
    if col.kind == "pattern":
        return f"pattern {col.pattern}"
    if col.kind == "enum":
        return "code (code list)" if col.name == "Redencode" else "enum " + " | ".join(col.choices)
    if col.kind == "int":
        return f"int {col.low}–{col.high}"
    if col.kind == "text":
        return f"text ≤{col.max_len}"
    return col.kind


@pytest.mark.parametrize("heading,columns", [
    ("### Registrations export columns", REGISTRATION_COLUMNS),
    ("### Report export columns", REPORT_COLUMNS),
])
def test_readme_table_matches_the_parser_columns(heading: str, columns: tuple[Column, ...]) -> None:
    rows = _table(heading)
    assert [(int(r[0]), r[1]) for r in rows] == [(i, c.name) for i, c in enumerate(columns, 1)]
    for row, col in zip(rows, columns):
        assert row[2] == _type_text(col), col.name
        assert row[3] == ("yes" if col.required else "no"), col.name


def test_readme_code_list_matches_the_schema() -> None:
    rows = _table("### Reason code list")
    got = {r[0]: (r[1], r[2], r[3] == "J", r[4] == "yes") for r in rows}
    assert got == {code: tuple(reden) for code, reden in REDENCODES.items()}


def test_registrations_header_is_exactly_the_section_6_1_one() -> None:
    spec = ("Registratie-id;Registratiesoort;Deelnemernummer;BSN;Onderwijsnummer;Geboortedatum;"
            "Woongemeentecode;BRIN;Vestiging;Locatie;Crebo;Leerweg;Niveau;Begindatum;Begintijd;"
            "Einddatum;Eindtijd;Beginlesuur;Eindlesuur;Minuten;Waarnemingsoort;Redencode;Reden;"
            "Absentiesoort;Geoorloofd;Afgehandeld;Opmerkingen;Gewijzigd op;Verwijderd")
    assert ";".join(c.name for c in REGISTRATION_COLUMNS) == spec
    assert EXAMPLE.read_bytes().decode("utf-8-sig").split("\r\n", 1)[0] == spec


def test_terugmelding_header_starts_with_the_section_6_1_columns() -> None:
    assert TERUGMELDING_HEADER[:14] == (
        "Registratie-ids", "Deelnemernummer", "Meldingsnummer DUO", "Verzuimsoort",
        "Begindatum", "Einddatum", "Status", "Reden afgesloten", "Toelichting afsluiting",
        "Contactpersoon naam", "Contactpersoon functie", "Contactpersoon telefoon",
        "Contactpersoon e-mail", "Laatste mutatie")
    assert ";".join(TERUGMELDING_HEADER) in README


@pytest.mark.parametrize("path", DEMO, ids=lambda p: p.name)
def test_every_sample_uses_one_of_the_two_headers(path) -> None:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    header = tuple(raw.decode("utf-8-sig").split("\r\n", 1)[0].split(";"))
    assert header in (tuple(c.name for c in REGISTRATION_COLUMNS),
                      tuple(c.name for c in REPORT_COLUMNS))


@pytest.mark.parametrize("col,text,ok", [
    (REGISTRATION_COLUMNS[0], "AM-0087731", True),
    (REGISTRATION_COLUMNS[0], "XX-1", False),
    (REGISTRATION_COLUMNS[3], "999933632", True),
    (REGISTRATION_COLUMNS[3], "999933633", False),   # 11-proef
    (REGISTRATION_COLUMNS[4], "104008708", True),
    (REGISTRATION_COLUMNS[4], "204008708", False),   # must start with 10
    (REGISTRATION_COLUMNS[5], "29-02-2024", True),
    (REGISTRATION_COLUMNS[5], "31-02-2025", False),
    (REGISTRATION_COLUMNS[14], "23:59", True),
    (REGISTRATION_COLUMNS[14], "24:00", False),
    (REGISTRATION_COLUMNS[17], "12", True),
    (REGISTRATION_COLUMNS[17], "13", False),
    (REGISTRATION_COLUMNS[21], "LX", True),
    (REGISTRATION_COLUMNS[21], "QQ", False),
    (REGISTRATION_COLUMNS[24], "J", True),
    (REGISTRATION_COLUMNS[24], "ja", False),
    (REGISTRATION_COLUMNS[27], "26-10-2025 02:30:00", True),
    (REGISTRATION_COLUMNS[27], "26-10-2025 2:30", False),
    (REPORT_COLUMNS[22], "a.pdf|application/pdf|ref-1;b.txt|text/plain|ref-2", True),
    (REPORT_COLUMNS[22], "a.pdf|pdf|ref-1", False),
    (REPORT_COLUMNS[22], "a.pdf||ref-1", False),
])
def test_column_rules(col: Column, text: str, ok: bool) -> None:
    value, rule = read_value(col, text)
    assert (rule is None) is ok and (value is not None) is ok
    if rule:
        assert text not in rule  # a rule never echoes the value


def test_required_column_reports_required_and_optional_gives_none() -> None:
    assert read_value(REGISTRATION_COLUMNS[0], "  ") == (None, "required")
    assert read_value(REGISTRATION_COLUMNS[3], "") == (None, None)
