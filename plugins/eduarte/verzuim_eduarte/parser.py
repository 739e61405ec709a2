"""Streaming reader of Eduarte-style CSV exports: body → native rows and rejections.

The body is decoded incrementally (``TextIOWrapper`` over a ``BytesIO`` that
shares the body's buffer) and read record by record with :mod:`csv`, so a large
export is never materialised as one string or one list. The header row picks the
column table (:mod:`verzuim_eduarte.schema`); every following record becomes a
:class:`NativeRow` or a :class:`RowRejection` naming ``row N`` (the header is
row 1; a quoted field with a line break still counts as one row), the column
and the rule, never the value.

Raises :class:`adapter.errors.DecodeError` when the message as a whole cannot be
read: not UTF-8 (possibly after some rows were yielded: the caller must drop
the whole message, as the daemon's intake does), a CSV structure error, an
empty body, an unknown header row or a non-CSV content type.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adapter.domain.model import RowRejection
from adapter.errors import DecodeError

from verzuim_eduarte.schema import (REGISTRATION_COLUMNS, REGISTRATION_HEADER, REPORT_COLUMNS,
                                    REPORT_HEADER, Column, make_reader)

REGISTRATIE = "registratie"
MELDING = "melding"

_READER_TABLES: dict[int, tuple[tuple[str, Any], ...]] = {}
_CSV_MEDIA = {"text/csv", "application/csv", "text/plain", "application/octet-stream",
              "application/vnd.ms-excel", "text/x-csv"}


@dataclass(frozen=True, slots=True)
class NativeRow:
    """One valid row: its position (``row N``), kind and typed values by column name.

    Self-contained: mapping needs nothing from other rows (the daemon maps
    chunks of rows independently).
    """

    position: str
    kind: str                    # REGISTRATIE | MELDING
    values: dict[str, Any]


def check_content_type(content_type: str | None) -> None:
    """Accept no content type, a CSV/text type, and only a UTF-8 charset."""
    if content_type is None or not content_type.strip():
        return
    media, _, params = content_type.partition(";")
    if media.strip().lower() not in _CSV_MEDIA:
        raise DecodeError("content type is not CSV")
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise DecodeError("charset is not UTF-8")


def parse(body: bytes, content_type: str | None) -> Iterator[NativeRow | RowRejection]:
    """Yield a NativeRow or RowRejection per record after the header (blank lines skipped)."""
    check_content_type(content_type)
    stream = io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(stream, delimiter=";", quotechar='"', doublequote=True)
    records = _records(reader)
    header = next(records, None)
    if header is None:
        raise DecodeError("empty export: no header row")
    names = tuple(h.strip().lstrip("\ufeff") for h in header)
    if names == REGISTRATION_HEADER:
        columns, kind = REGISTRATION_COLUMNS, REGISTRATIE
    elif names == REPORT_HEADER:
        columns, kind = REPORT_COLUMNS, MELDING
    else:
        raise DecodeError("header row is neither the registrations nor the report export",
                          position="row 1")
    row_number = 1
    for record in records:
        row_number += 1
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # blank line
        yield read_row(record, f"row {row_number}", columns, kind)


def _records(reader: Any) -> Iterator[list[str]]:
    """The reader's records, with decoding and CSV errors turned into DecodeError.

    The DecodeError is raised outside the ``except`` block so that neither its
    cause nor its context holds the offending bytes.
    """
    while True:
        problem = None
        try:
            record = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            problem = "body is not valid UTF-8"
        except csv.Error:
            problem = "CSV structure is broken (unbalanced quotes or oversized field)"
        if problem is not None:
            raise DecodeError(problem)
        yield record


def read_row(record: list[str], position: str, columns: tuple[Column, ...],
             kind: str) -> NativeRow | RowRejection:
    """Type every field through its column, then apply the cross-field rules."""
    if len(record) != len(columns):
        return RowRejection(position, (("columns", f"expected {len(columns)} columns, "
                                                   f"found {len(record)}"),))
    values: dict[str, Any] = {}
    violations: list[tuple[str, str]] = []
    for (name, reader), text in zip(_readers(columns), record):
        value, rule = reader(text)
        if rule is not None:
            violations.append((name, rule))
        elif value is not None:
            values[name] = value
    if kind == REGISTRATIE:
        violations.extend(_registration_rules(values, violations))
        source_id = values.get("Registratie-id")
    else:
        violations.extend(_report_rules(values))
        source_id = values.get("Melding-id")
    if violations:
        return RowRejection(position, tuple(violations), source_id=source_id,
                            brin=values.get("BRIN"))
    return NativeRow(position, kind, values)


def _readers(columns: tuple[Column, ...]) -> tuple[tuple[str, Any], ...]:
    cached = _READER_TABLES.get(id(columns))
    if cached is None:
        cached = tuple((col.name, make_reader(col)) for col in columns)
        _READER_TABLES[id(columns)] = cached
    return cached


def _registration_rules(v: dict[str, Any], found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """§6.1 rules that involve more than one column (skipped where a column was unreadable)."""
    bad = {name for name, _ in found}
    out: list[tuple[str, str]] = []
    soort, rid = v.get("Registratiesoort"), v.get("Registratie-id")
    if soort and rid and rid[:2] != ("AM" if soort == "Absentiemelding" else "WN"):
        out.append(("Registratie-id", "prefix must be AM- for Absentiemelding, WN- for Waarneming"))
    if not v.get("BSN") and not v.get("Onderwijsnummer") and not bad & {"BSN", "Onderwijsnummer"}:
        out.append(("BSN", "BSN or Onderwijsnummer is required"))
    begin, end = v.get("Begindatum"), v.get("Einddatum")
    if begin and end and end < begin:
        out.append(("Einddatum", "must not lie before Begindatum"))
    if begin and end and begin == end and v.get("Begintijd") and v.get("Eindtijd") \
            and v["Eindtijd"] <= v["Begintijd"]:
        out.append(("Eindtijd", "must lie after Begintijd"))
    first, last = v.get("Beginlesuur"), v.get("Eindlesuur")
    if first is not None and (begin is None or end != begin) and "Einddatum" not in bad:
        out.append(("Beginlesuur", "only allowed when Begindatum equals Einddatum"))
    if first is not None and last is None and "Eindlesuur" not in bad:
        out.append(("Eindlesuur", "required when Beginlesuur is set"))
    if last is not None and first is None and "Beginlesuur" not in bad:
        out.append(("Beginlesuur", "required when Eindlesuur is set"))
    if first is not None and last is not None and last < first:
        out.append(("Eindlesuur", "must not be before Beginlesuur"))
    if soort == "Waarneming":
        if not v.get("Waarnemingsoort") and "Waarnemingsoort" not in bad:
            out.append(("Waarnemingsoort", "required on a Waarneming"))
        if end != begin and not bad & {"Begindatum", "Einddatum"}:
            out.append(("Einddatum", "a Waarneming covers one day: must equal Begindatum"))
    elif soort == "Absentiemelding":
        if v.get("Waarnemingsoort"):
            out.append(("Waarnemingsoort", "must be empty on an Absentiemelding"))
        if not v.get("Redencode") and "Redencode" not in bad:
            out.append(("Redencode", "required on an Absentiemelding"))
    return out


def _report_rules(v: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if v.get("Vervolg op") and v.get("Vervolg op") == v.get("Melding-id"):
        out.append(("Vervolg op", "must name another Melding-id"))
    return out
