"""Streaming parser of the Magister-style JSON export (``ijson``, C backend).

Two passes over the bytes, neither of which holds the export in memory:

1. **Header pass** (event level): checks that the whole body is UTF-8 JSON
   (a syntax error anywhere raises :class:`DecodeError` before any record is
   yielded), that the top level is an object with each known key at most once
   and of the right kind, and builds ``Export`` and the ``Leerlingen`` index
   (students are few; items are many). ``Leerlingen`` may therefore come
   before or after ``Items``/``Meldingen``.
2. **Record pass**: ``ijson.items`` over ``Items.item`` and ``Meldingen.item``,
   one object at a time, each checked against :mod:`verzuim_magister.schema`
   and attached to its student.

Memory stays flat: the body itself (the AMQP message) plus one record, plus the
student index. Nothing here logs or quotes a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import ijson
from ijson.common import ObjectBuilder

from adapter.domain.model import RowRejection
from adapter.errors import DecodeError

from verzuim_magister import schema

TOP_LEVEL = {"Export": "start_map", "Leerlingen": "start_array", "Items": "start_array",
             "Meldingen": "start_array", "Volgende": None}
_BOM = b"\xef\xbb\xbf"
BUF_SIZE = 16 * 1024


@dataclass(frozen=True)
class Leerling:
    """A ``Leerlingen`` entry: the identifiers the mapping needs, nothing else."""

    stamnummer: str
    bsn: str | None
    onderwijsnummer: str | None
    geboortedatum: date | None
    woongemeentecode: str | None = None


@dataclass(frozen=True)
class ItemRecord:
    """An ``Items`` entry, checked, with its student and the export's BRIN."""

    position: str
    brin: str
    leerling: Leerling
    item: dict[str, Any]


@dataclass(frozen=True)
class MeldingRecord:
    """A ``Meldingen`` entry, checked, with its student and the export's BRIN."""

    position: str
    brin: str
    leerling: Leerling
    melding: dict[str, Any]


@dataclass
class Header:
    export: dict[str, Any]
    leerlingen: dict[str, Leerling | None]
    rejections: list[RowRejection]
    present: set[str]


class _Reader:
    """A read()-able view of the body without copying it (skips a UTF-8 BOM)."""

    def __init__(self, body: bytes) -> None:
        self._view = memoryview(body)
        self._pos = 3 if bytes(self._view[:3]) == _BOM else 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._pos + size
        chunk = bytes(self._view[self._pos:end])
        self._pos += len(chunk)
        return chunk


def json_content_type(content_type: str | None) -> bool:
    if content_type is None or not content_type.strip():
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def parse(body: bytes, *, content_type: str | None
          ) -> Iterator[ItemRecord | MeldingRecord | RowRejection]:
    """Yield a checked record per ``Items``/``Meldingen`` entry, RowRejection per bad one.

    Rejected ``Leerlingen`` entries come first (position ``$.Leerlingen[i]``); a record
    whose ``Stamnummer`` is not (validly) listed is rejected at its own position.
    Raises DecodeError when the body is not one UTF-8 JSON object of this shape.
    """
    if not json_content_type(content_type):
        raise DecodeError("content type is not application/json")
    header = scan_header(body)
    brin = header.export["Brin"]
    yield from (replace(r, brin=brin) for r in header.rejections)
    for key, table, make in (("Items", schema.ITEM, ItemRecord),
                             ("Meldingen", schema.MELDING, MeldingRecord)):
        if key not in header.present:
            continue
        for i, obj in enumerate(_items(body, key)):
            position = f"$.{key}[{i}]"
            values, violations = schema.check(obj, table, position)
            leerling = header.leerlingen.get(values.get("Stamnummer") or "")
            if values.get("Stamnummer") and leerling is None:
                violations.append((f"{position}.Stamnummer", "is not a valid entry of Leerlingen"))
            if violations:
                yield RowRejection(position, tuple(violations), source_id=values.get("Id")
                                   if key == "Meldingen" else None, brin=brin)
                continue
            assert leerling is not None
            yield make(position, brin, leerling, values)


def _items(body: bytes, key: str) -> Iterator[Any]:
    try:
        # A small read size: the C backend builds every object of a chunk before yielding.
        yield from ijson.items(_Reader(body), f"{key}.item", use_float=True, buf_size=BUF_SIZE)
    except ijson.JSONError:  # the header pass read the same bytes; defensive only
        raise DecodeError("body is not valid UTF-8 JSON") from None


def scan_header(body: bytes) -> Header:
    """Pass 1: validate the whole body's syntax and top level; build Export and Leerlingen."""
    export: dict[str, Any] | None = None
    index: dict[str, Leerling | None] = {}  # None: listed twice, ambiguous
    rejections: list[RowRejection] = []
    present: set[str] = set()
    key: str | None = None
    fresh = False  # the next top-level event is the first of the value of ``key``
    builder: ObjectBuilder | None = None
    depth = 0
    n_leerling = -1
    events = ijson.parse(_Reader(body), use_float=True, buf_size=BUF_SIZE)
    try:
        first = next(events, None)
        if first is None or first[1] != "start_map":
            raise DecodeError("body must be a JSON object with Export, Leerlingen, Items, "
                              "Meldingen", position="$")
        for prefix, event, value in events:
            if builder is not None:  # inside Export or one Leerlingen entry
                builder.event(event, value)
                depth += 1 if event in ("start_map", "start_array") else 0
                depth -= 1 if event in ("end_map", "end_array") else 0
                if depth == 0:
                    if key == "Export":
                        export = builder.value
                    else:
                        _add_leerling(builder.value, n_leerling, index, rejections)
                    builder = None
                continue
            if prefix == "":
                if event == "map_key":
                    key = value
                    if key in present:
                        raise DecodeError(f"top-level key {key} appears twice", position="$",
                                          field=key)
                    if key in TOP_LEVEL:
                        present.add(key)
                    fresh = True
                continue
            if fresh and key in TOP_LEVEL:
                fresh = False
                _check_kind(key, event)
                if key == "Export" and event == "start_map":
                    builder, depth = ObjectBuilder(), 1
                    builder.event(event, value)
                continue
            fresh = False
            if key == "Leerlingen" and prefix == "Leerlingen.item" and event in (
                    "start_map", "start_array", "string", "number", "boolean", "null"):
                n_leerling += 1
                builder, depth = ObjectBuilder(), 0
                builder.event(event, value)
                depth += 1 if event in ("start_map", "start_array") else 0
                if depth == 0:
                    _add_leerling(builder.value, n_leerling, index, rejections)
                    builder = None
    except ijson.JSONError:
        # ``from None``: ijson's message quotes the body around the error.
        raise DecodeError("body is not valid UTF-8 JSON") from None
    if export is None:
        raise DecodeError("Export is required", position="$.Export", field="Export")
    values, violations = schema.check(export, schema.EXPORT, "$.Export")
    if violations:
        where, rule = violations[0]
        raise DecodeError(f"{where} {rule}", position="$.Export", field=where, rule=rule)
    return Header(values, index, rejections, present)


def _check_kind(key: str, event: str) -> None:
    expected = TOP_LEVEL[key]
    if expected is None:  # Volgende: an opaque cursor, string or null; not used
        ok = event in ("string", "null")
        rule = "must be a string or null"
    elif expected == "start_array":  # null means the same as absent: an empty list
        ok = event in (expected, "null")
        rule = "must be a list or null"
    else:
        ok = event == expected
        rule = "must be an object"
    if not ok:
        raise DecodeError(f"{key} {rule}", position=f"$.{key}", field=key, rule=rule)


def _add_leerling(obj: object, i: int, index: dict[str, Leerling | None],
                  rejections: list[RowRejection]) -> None:
    """Index a valid entry; reject an invalid one. A Stamnummer listed twice is
    ambiguous: both entries are unusable (the first stays rejected silently as None)."""
    position = f"$.Leerlingen[{i}]"
    values, violations = schema.check(obj, schema.LEERLING, position)
    if not violations and not (values["Bsn"] or values["Onderwijsnummer"]):
        violations.append((f"{position}.Bsn", "Bsn or Onderwijsnummer is required"))
    if values.get("Stamnummer") in index:
        violations.append((f"{position}.Stamnummer", "appears twice in Leerlingen"))
        index[values["Stamnummer"]] = None
    if violations:
        rejections.append(RowRejection(position, tuple(violations)))
        return
    index[values["Stamnummer"]] = Leerling(values["Stamnummer"], values["Bsn"],
                                           values["Onderwijsnummer"], values["Geboortedatum"],
                                           values.get("WoonGemeenteCode"))
