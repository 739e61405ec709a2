"""Parsing: §6.1 quirks, bad rows (RowRejection by position, no values), whole-message
DecodeErrors, corrupted copies of every sample, and flat memory on a large export."""

from __future__ import annotations

import tracemalloc

import pytest

from adapter.domain.model import MappedRecord, MappedRegistratie, RowRejection
from adapter.errors import DecodeError
from verzuim_eduarte.parser import NativeRow
from verzuim_eduarte.schema import REGISTRATION_HEADER, REPORT_HEADER

from eduarte_support import DEMO, EXAMPLE, csv_body, registratie_row, report_row, run


def _values(body: bytes) -> set[str]:
    """Every non-trivial field value of a body (to prove none leaks into a rejection)."""
    text = body.decode("utf-8-sig", errors="replace")
    vocabulary = {"Waarneming", "Absentiemelding", "Absent", "Afwezig"}  # enum words
    return {v.strip('"') for line in text.splitlines()[1:] for v in line.split(";")
            if len(v.strip('"')) > 3} - vocabulary


def test_section_6_1_example_parses_with_bom_crlf_and_quoted_fields(vendor) -> None:
    items = list(vendor.parse(EXAMPLE.read_bytes(), content_type="text/csv"))
    assert [type(i) for i in items] == [NativeRow] * 3
    assert [i.position for i in items] == ["row 2", "row 3", "row 4"]
    first, second, third = (i.values for i in items)
    assert first["Registratie-id"] == "WN-5512001"  # BOM does not stick to the first header
    assert "BSN" not in first and first["Onderwijsnummer"] == "104008708"
    assert second["Opmerkingen"] == 'Moeder belde 10:15; zegt "verslapen", tweede keer deze maand'
    assert third["Opmerkingen"] == "Griep; huisarts bezocht"
    assert third["Gewijzigd op"].utcoffset().total_seconds() == 7200  # summer time


def test_lf_only_and_no_bom_are_accepted(vendor) -> None:
    body = EXAMPLE.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").encode()
    assert len([i for i in vendor.parse(body, content_type=None) if isinstance(i, NativeRow)]) == 3


def test_quoted_field_with_line_break_is_one_row(vendor) -> None:
    body = csv_body(REGISTRATION_HEADER,
                    registratie_row({"Opmerkingen": '"regel een\r\nregel ""twee"""'}),
                    registratie_row({"Registratie-id": "AM-2"}))
    items = list(vendor.parse(body, content_type="text/csv"))
    assert [i.position for i in items] == ["row 2", "row 3"]
    assert items[0].values["Opmerkingen"] == 'regel een\r\nregel "twee"'


def test_bad_rows_are_rejected_by_position_column_and_rule_and_the_rest_goes_on(vendor) -> None:
    body = csv_body(
        REGISTRATION_HEADER,
        registratie_row({"Registratie-id": "AM-10"}),
        registratie_row({"Registratie-id": "AM-11", "Begindatum": "31-02-2025"}),
        registratie_row({"Registratie-id": "AM-12", "Redencode": "QQ"}),
        "AM-13;Absentiemelding;731299;999973149",
        registratie_row({"Registratie-id": "AM-14", "Deelnemernummer": ""}),
        registratie_row({"Registratie-id": "AM-15", "BSN": "", "Onderwijsnummer": ""}),
        registratie_row({"Registratie-id": "WN-16"}),
        registratie_row({"Registratie-id": "AM-17", "Beginlesuur": "3"}),
        registratie_row({"Registratie-id": "AM-18", "Einddatum": "05-10-2025"}),
        "",
        registratie_row({"Registratie-id": "AM-19"}))
    items = run(vendor, body)
    rejections = {r.position: r for r in items if isinstance(r, RowRejection)}
    assert {p: r.violations for p, r in rejections.items()} == {
        "row 3": (("Begindatum", "not a valid date (dd-mm-jjjj)"),),
        "row 4": (("Redencode", "unknown reason code"),),
        "row 5": (("columns", "expected 29 columns, found 4"),),
        "row 6": (("Deelnemernummer", "required"),),
        "row 7": (("BSN", "BSN or Onderwijsnummer is required"),),
        "row 8": (("Registratie-id", "prefix must be AM- for Absentiemelding, WN- for Waarneming"),),
        "row 9": (("Eindlesuur", "required when Beginlesuur is set"),),
        "row 10": (("Einddatum", "must not lie before Begindatum"),),
    }
    assert rejections["row 4"].source_id == "AM-12" and rejections["row 4"].brin == "00AA"
    mapped = {m.registratie.source_id for m in items if isinstance(m, MappedRegistratie)}
    assert mapped == {"AM-10@2025-10-06", "AM-19@2025-10-06"}  # row 11 blank, row 12 fine
    assert [m.position for m in items if isinstance(m, MappedRegistratie)] == ["row 2", "row 12"]


def test_waarneming_rules(vendor) -> None:
    body = csv_body(REGISTRATION_HEADER, registratie_row({
        "Registratie-id": "WN-1", "Registratiesoort": "Waarneming", "Einddatum": "07-10-2025"}))
    [rej] = run(vendor, body)
    assert set(rej.violations) == {("Waarnemingsoort", "required on a Waarneming"),
                                   ("Einddatum", "a Waarneming covers one day: must equal Begindatum")}


def test_report_rows_rejected_and_accepted(vendor) -> None:
    body = csv_body(REPORT_HEADER, report_row(),
                    report_row({"Melding-id": "VM-2", "Verzuimsoort": "X9"}),
                    report_row({"Melding-id": "VM-3", "Vervolg op": "VM-3"}),
                    report_row({"Melding-id": "VM-4", "Gewijzigd op": "11-10-2025"}))
    items = run(vendor, body)
    assert [(i.position, i.violations) for i in items if isinstance(i, RowRejection)] == [
        ("row 3", (("Verzuimsoort", "must be one of V3|V4|LRV|RMC|L|O|V1|V2"),)),
        ("row 4", (("Vervolg op", "must name another Melding-id"),)),
        ("row 5", (("Gewijzigd op", "not a valid date-time (dd-mm-jjjj uu:mm:ss)"),)),
    ]
    assert [m.position for m in items if isinstance(m, MappedRecord)] == ["row 2"]


@pytest.mark.parametrize("body,content_type,reason", [
    ("Registratie-id;x\r\n".encode() + b"\xff\xfe bad", "text/csv", "not valid UTF-8"),
    (b"", "text/csv", "empty export"),
    (b"\xef\xbb\xbfFoo;Bar\r\n1;2\r\n", "text/csv", "header row"),
    (";".join(REGISTRATION_HEADER[:-1]).encode(), "text/csv", "header row"),
    (b"{}", "application/json", "not CSV"),
    (b"a;b", "text/csv; charset=iso-8859-1", "not UTF-8"),
])
def test_undecodable_messages_raise_decode_error_without_values(vendor, body, content_type,
                                                                reason) -> None:
    with pytest.raises(DecodeError) as info:
        list(vendor.parse(body, content_type=content_type))
    assert reason in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_non_utf8_late_in_the_body_fails_the_whole_message(vendor) -> None:
    rows = [registratie_row({"Registratie-id": f"AM-{n}"}) for n in range(2000)]
    body = csv_body(REGISTRATION_HEADER, *rows) + "Zoë;".encode("latin-1") + b"\r\n"
    with pytest.raises(DecodeError, match="UTF-8"):
        list(vendor.parse(body, content_type="text/csv"))


@pytest.mark.parametrize("path", DEMO + [EXAMPLE], ids=lambda p: p.name)
def test_corrupted_copy_of_each_sample(vendor, path) -> None:
    """One bad date, one bad code/enum, one short row: those rows rejected, the rest mapped."""
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    registrations = header.startswith("Registratie-id")
    names = header.split(";")
    good_before = len(run(vendor, path.read_bytes()))

    def corrupt(row: str, column: str, value: str) -> str:
        import csv
        cells = next(csv.reader([row], delimiter=";"))
        cells[names.index(column)] = value
        return ";".join(f'"{c}"' if ";" in c or '"' in c else c for c in cells)

    template = rows[0]
    extra = [corrupt(template, "Begindatum", "31-02-2025"),
             corrupt(template, "Redencode" if registrations else "Verzuimsoort", "QQ"),
             ";".join(template.split(";")[:5])]
    body = ("\ufeff" + "\r\n".join([header, *rows, *extra]) + "\r\n").encode()
    items = run(vendor, body)
    rejections = [i for i in items if isinstance(i, RowRejection)]
    n = len(rows) + 1
    assert [(r.position, r.violations[0][0]) for r in rejections] == [
        (f"row {n + 1}", "Begindatum"),
        (f"row {n + 2}", "Redencode" if registrations else "Verzuimsoort"),
        (f"row {n + 3}", "columns")]
    assert len(items) - len(rejections) == good_before  # every good row still mapped
    secrets = _values(body)
    for r in rejections:
        leaked = [s for s in secrets if s != r.source_id and s in f"{r.position} {r.violations}"]
        assert not leaked, leaked


def test_large_export_parses_with_flat_memory(vendor) -> None:
    """A ~12 MB generated export (long quoted remarks keep the row count, and so the
    run time, down); the parser's peak allocation stays far below the body's size.
    bench/eduarte_parse.py measures a 50 MB export of short rows the same way."""
    remark = '"lang; ""x"" ' + "y" * 1000 + '"'
    rows = [registratie_row({"Registratie-id": f"AM-{n}", "Opmerkingen": remark})
            for n in range(50)]
    block = ("\r\n".join(rows) + "\r\n").encode()
    body = csv_body(REGISTRATION_HEADER) + block * (12_000_000 // len(block))
    tracemalloc.start()
    try:
        count = sum(1 for item in vendor.parse(body, content_type="text/csv")
                    if isinstance(item, NativeRow))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 50 * (12_000_000 // len(block))
    assert len(body) > 10_000_000 and peak < len(body) / 100, (peak, len(body))
