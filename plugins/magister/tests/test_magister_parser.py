"""Parsing: the §6.2 example, the shape rules, robustness, corrupted copies of every sample."""

from __future__ import annotations

import copy
import json

import pytest

from adapter.domain.model import RowRejection
from adapter.errors import DecodeError
from magister_helpers import (DEMO, EXAMPLE, a_melding, an_item, dumps, load, minimal_export,
                              run)
from verzuim_magister.parser import ItemRecord, MeldingRecord


def test_example_parses_into_three_items_with_their_students(vendor):
    natives = list(vendor.parse(EXAMPLE.read_bytes(), content_type="application/json"))
    assert [type(n) for n in natives] == [ItemRecord] * 3
    assert [n.position for n in natives] == ["$.Items[0]", "$.Items[1]", "$.Items[2]"]
    assert [n.item["Id"] for n in natives] == [7300121, 7300388, 7301002]
    assert {n.brin for n in natives} == {"99ZZ"}
    assert natives[0].leerling.stamnummer == "21457"
    assert natives[2].leerling.bsn == "999934442"
    assert natives[1].item["Afspraak"]["LesuurTotMet"] == 2


def test_bom_crlf_and_missing_content_type_are_fine(vendor):
    body = b"\xef\xbb\xbf" + EXAMPLE.read_bytes().replace(b"\n", b"\r\n")
    assert len(list(vendor.parse(body, content_type=None))) == 3
    assert len(list(vendor.parse(body, content_type="application/json; charset=utf-8"))) == 3


@pytest.mark.parametrize("body,reason", [
    (b'{"Export": {"Brin": "00AA"}, "Items": [{"Opmerking": "caf\xe9 Lindehof"}]}', "UTF-8 JSON"),
    ("{\"Export\": {\"Brin\": \"00AA\"}}".encode("utf-16"), "UTF-8 JSON"),
    (b'{"Export": {"Brin": "00AA"}, "Items": [{"Id": 1, "Opmerking": "Lindehof', "UTF-8 JSON"),
    (b'{"Export": {"Brin": "00AA"}} {"x": 1}', "UTF-8 JSON"),
    (b'{"Export": {"Brin": "00AA"}, "Items": [NaN]}', "UTF-8 JSON"),
    (b"", "UTF-8 JSON"),
    (b'[{"Export": {}}]', "JSON object"),
    (b'"Lindehof"', "JSON object"),
    (b'{"Leerlingen": [], "Items": []}', "Export is required"),
    (b'{"Export": {"Brin": "Lindehof"}}', "$.Export.Brin"),
    (b'{"Export": [], "Items": []}', "Export must be an object"),
    (b'{"Export": {"Brin": "00AA"}, "Items": {"Id": 1}}', "Items must be a list"),
    (b'{"Export": {"Brin": "00AA"}, "Leerlingen": "Lindehof"}', "Leerlingen must be a list"),
    (b'{"Export": {"Brin": "00AA"}, "Volgende": 3}', "Volgende must be a string or null"),
    (b'{"Export": {"Brin": "00AA"}, "Items": [], "Items": []}', "Items appears twice"),
])
def test_undecodable_bodies_raise_decode_error_without_values(vendor, body, reason):
    with pytest.raises(DecodeError) as info:
        list(vendor.parse(body, content_type="application/json"))
    message = str(info.value)
    assert reason in message
    assert "Lindehof" not in message and "caf" not in message
    exc = info.value
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_a_syntax_error_at_the_end_yields_no_record_first(vendor):
    body = EXAMPLE.read_bytes().rstrip()[:-1]  # drop the closing brace
    records = vendor.parse(body, content_type="application/json")
    with pytest.raises(DecodeError):
        next(iter(records))


def test_wrong_content_type_is_a_decode_error(vendor):
    with pytest.raises(DecodeError, match="content type"):
        list(vendor.parse(EXAMPLE.read_bytes(), content_type="text/csv"))


def test_leerlingen_may_come_after_items(vendor):
    doc = load(EXAMPLE)
    reordered = {"Items": doc["Items"], "Volgende": None, "Export": doc["Export"],
                 "Leerlingen": doc["Leerlingen"]}
    natives = list(vendor.parse(dumps(reordered), content_type=None))
    assert [n.item["Id"] for n in natives] == [7300121, 7300388, 7301002]
    assert natives[0].leerling.geboortedatum.isoformat() == "2007-11-05"


def test_items_and_meldingen_in_one_export(vendor):
    doc = minimal_export(items=[an_item(1), an_item(2)], meldingen=[a_melding()])
    natives = list(vendor.parse(dumps(doc), content_type=None))
    assert [type(n) for n in natives] == [ItemRecord, ItemRecord, MeldingRecord]
    assert natives[2].position == "$.Meldingen[0]"


def test_unknown_top_level_keys_and_cursor_are_ignored(vendor):
    doc = minimal_export(items=[an_item()])
    doc["Volgende"] = "opaque-cursor-2"
    doc["Metadata"] = {"Versie": 3, "Lijst": [1, 2]}
    assert len(list(vendor.parse(dumps(doc), content_type=None))) == 1


def test_bad_leerlingen_entries_and_unknown_students(vendor):
    leerlingen = [
        {"Stamnummer": "1", "Bsn": "999976011"},
        {"Stamnummer": "2", "Bsn": None, "Onderwijsnummer": None},     # no identifier
        {"Stamnummer": "3", "Bsn": "12345", "Geboortedatum": "2010-01-01"},  # bad BSN format
        {"Stamnummer": "4", "Bsn": "999976023"},
        {"Stamnummer": "4", "Bsn": "999976035"},                       # listed twice
        "Lindehof",
    ]
    items = [an_item(1), an_item(2, Stamnummer="2"), an_item(3, Stamnummer="3"),
             an_item(4, Stamnummer="4"), an_item(5, Stamnummer="99")]
    out = list(vendor.parse(dumps(minimal_export(items=items, leerlingen=leerlingen)),
                            content_type=None))
    rejected = {r.position: r.violations for r in out if isinstance(r, RowRejection)}
    assert rejected["$.Leerlingen[1]"] == (("$.Leerlingen[1].Bsn",
                                            "Bsn or Onderwijsnummer is required"),)
    assert rejected["$.Leerlingen[2]"] == (("$.Leerlingen[2].Bsn", "must be 9 digits"),)
    assert rejected["$.Leerlingen[4]"] == (("$.Leerlingen[4].Stamnummer",
                                            "appears twice in Leerlingen"),)
    assert rejected["$.Leerlingen[5]"] == (("$.Leerlingen[5]", "must be an object"),)
    for i in (1, 2, 3, 4):
        assert rejected[f"$.Items[{i}]"] == ((f"$.Items[{i}].Stamnummer",
                                              "is not a valid entry of Leerlingen"),)
    assert [n.position for n in out if isinstance(n, ItemRecord)] == ["$.Items[0]"]


def test_item_that_is_not_an_object(vendor):
    doc = minimal_export(items=[an_item(1), "Lindehof", 3, an_item(4)])
    out = list(vendor.parse(dumps(doc), content_type=None))
    assert [(o.position, type(o).__name__) for o in out] == [
        ("$.Items[0]", "ItemRecord"), ("$.Items[1]", "RowRejection"),
        ("$.Items[2]", "RowRejection"), ("$.Items[3]", "ItemRecord")]
    assert out[1].violations == (("$.Items[1]", "must be an object"),)


def corrupt(doc: dict) -> tuple[dict, dict[str, str]]:
    """One bad date, one bad code, one entry missing a key ("short row"); returns the
    corrupted copy and {position: key path} of what must be rejected."""
    doc = copy.deepcopy(doc)
    expect: dict[str, str] = {}
    items, meldingen = doc.get("Items") or [], doc.get("Meldingen") or []
    if len(items) >= 3:
        items[0]["Start"] = items[0]["Start"][:5] + "02-31T07:30:00Z"
        items[1]["Code"] = "QQ"
        del items[2]["Afspraak"]
        expect.update({"$.Items[0]": "$.Items[0].Start", "$.Items[1]": "$.Items[1].Code",
                       "$.Items[2]": "$.Items[2].Afspraak"})
    if meldingen:
        meldingen[0]["Begindatum"] = "2025-02-31"
        expect["$.Meldingen[0]"] = "$.Meldingen[0].Begindatum"
    return doc, expect


@pytest.mark.parametrize("path", [EXAMPLE, *DEMO], ids=lambda p: p.name)
def test_corrupted_copy_of_each_sample(vendor, path):
    original = load(path)
    regs0, reports0, rej0 = run(vendor, dumps(original))
    assert not rej0
    doc, expect = corrupt(original)
    regs, reports, rejections = run(vendor, dumps(doc))
    assert {r.position: r.violations[0][0] for r in rejections} == expect
    bad = set(expect)
    assert [r.position for r in regs] == [r.position for r in regs0 if r.position not in bad]
    assert [r.position for r in reports] == [r.position for r in reports0 if r.position not in bad]
    raw = json.dumps(doc, ensure_ascii=False)
    for rejection in rejections:
        text = repr(rejection)
        assert "QQ" not in text and "02-31" not in text
        for field, rule in rejection.violations:
            assert rule in ("is not a valid timestamp", "is not one of the known values",
                            "is required", "is not a valid date")
            assert field.startswith(rejection.position) and field not in ("", raw)


# ---- what the README promises: any fraction, null lists --------------------------------

@pytest.mark.parametrize("stamp", [
    "2025-11-03T07:30:00.1234567Z",         # .NET: seven fractional digits
    "2025-11-03T08:30:00.1234567+01:00",    # .NET DateTimeOffset: seven digits and an offset
    "2025-11-03T07:30:00.123456789Z",       # nanoseconds
    "2025-11-03T07:30:00.5Z",
])
def test_timestamps_with_any_number_of_fractional_digits(vendor, stamp):
    item = an_item(start=stamp, end="2025-11-03T08:20:00.0000000Z", GewijzigdOp=stamp)
    regs, _, rejections = run(vendor, dumps(minimal_export(items=[item])))
    assert not rejections
    [reg] = regs
    assert reg.registratie.lesuren == (1,)
    assert reg.registratie.modified_at is not None
    assert reg.registratie.modified_at.isoformat().startswith("2025-11-03T07:30:00.")
    assert reg.registratie.modified_at.utcoffset().total_seconds() == 0


def test_seven_fractional_digits_with_an_offset_are_read_as_utc():
    from verzuim_magister import schema
    values, violations = schema.check({"AangemaaktOp": "2025-10-09T14:03:11.1234567+02:00",
                                       "Brin": "00AA"}, schema.EXPORT, "$.Export")
    assert not violations
    assert values["AangemaaktOp"].isoformat() == "2025-10-09T12:03:11.123456+00:00"


def test_a_naive_timestamp_is_still_refused(vendor):
    item = an_item(GewijzigdOp="2025-11-03T10:00:00.1234567")
    _, _, [rejection] = run(vendor, dumps(minimal_export(items=[item])))
    assert [f for f, _ in rejection.violations] == ["$.Items[0].GewijzigdOp"]


@pytest.mark.parametrize("key", ["Items", "Meldingen", "Leerlingen"])
def test_a_null_list_is_an_empty_list(vendor, key):
    doc = minimal_export(items=[an_item()], meldingen=[a_melding()])
    doc[key] = None
    regs, reports, rejections = run(vendor, dumps(doc))
    if key == "Leerlingen":   # no students listed: the records refer to an unlisted one
        assert not regs and not reports and len(rejections) == 2
    else:
        assert (len(regs), len(reports)) == ((0, 1) if key == "Items" else (1, 0))
        assert not rejections


def test_null_nested_lists_are_empty(vendor):
    item = an_item(Afspraak={"Vakken": None})
    melding = a_melding(Bijlagen=None)
    regs, reports, rejections = run(vendor, dumps(minimal_export(items=[item],
                                                                 meldingen=[melding])))
    assert len(regs) == 1 and len(reports) == 1 and not rejections
