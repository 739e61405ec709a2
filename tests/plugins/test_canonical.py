"""The built-in canonical vendor: parse, to_duo, from_duo, the samples and the format docs."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from adapter.vendors.canonical import VENDOR, parse_all
from adapter.domain import (Bijlage, MappedRecord, MappedRegistratie, Melder, OutboundEvent,
                            Registratie, RowRejection, Student,
                            Verzuimdag, Verzuimmelding, Verzuimsoort, check_melding,
                            melding_from_dict, melding_to_dict)
from adapter.errors import DecodeError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "samples" / "canonical"
DOCS = ROOT / "docs" / "canonical-format.md"
TODAY = date(2026, 11, 29)
VALID = sorted(p for p in SAMPLES.glob("*.json")
               if p.name not in ("undecodable.json", "rod.json"))


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def test_single_report_round_trip() -> None:
    body = (SAMPLES / "v3-with-days.json").read_bytes()
    natives = list(VENDOR.parse(body, content_type="application/json; charset=utf-8"))
    assert [pos for pos, _ in natives] == ["$"]
    [mapped] = list(VENDOR.to_duo(natives))
    assert isinstance(mapped, MappedRecord) and mapped.position == "$"
    m = mapped.melding
    assert m.verzuimsoort is Verzuimsoort.V3 and m.student.bsn == "999990019"
    assert m.verzuimdagen[0] == Verzuimdag(date(2025, 10, 27), hele_dag=True)
    assert m.verzuimdagen[1].lesuren == (1, 2, 3, 4)
    assert melding_from_dict(melding_to_dict(m)) == m
    encoded = melding_to_dict(m)
    for key, value in _sample("v3-with-days.json").items():
        if key != "verzuimdagen":
            assert encoded[key] == value, key


def test_batch_positions_and_bad_rows() -> None:
    good = _sample("lrv-open.json")
    bad = dict(good, student={"bsn": 999990032}, begindatum="2026-13-01", extra="x")
    body = json.dumps({"meldingen": [good, "Vermeulen-Testpersoon", bad]}).encode()
    out = parse_all(body)
    by_pos = {r.position: r for r in out}
    assert set(by_pos) == {"$.meldingen[0]", "$.meldingen[1]", "$.meldingen[2]"}
    assert isinstance(by_pos["$.meldingen[0]"], MappedRecord)
    not_object = by_pos["$.meldingen[1]"]
    assert isinstance(not_object, RowRejection)
    assert not_object.violations == (("$.meldingen[1]", "must be an object"),)
    rejected = by_pos["$.meldingen[2]"]
    assert isinstance(rejected, RowRejection)
    fields = dict(rejected.violations)
    assert fields["$.meldingen[2].student.bsn"] == "must be a string"
    assert fields["$.meldingen[2].begindatum"] == "must be a date YYYY-MM-DD"
    assert fields["$.meldingen[2].extra"] == "unknown field"
    assert rejected.source_id == "SAMPLE-LRV-0002" and rejected.brin == "00AA"
    text = repr(rejected)
    for value in ("999990032", "2026-13-01", "Vermeulen-Testpersoon", "Bakkersveld"):
        assert value not in text


def test_rejection_takes_source_id_and_brin_only_when_strings() -> None:
    out = parse_all(json.dumps({"source_id": 12, "brin": ["00AA"]}).encode())
    [rej] = out
    assert isinstance(rej, RowRejection) and rej.position == "$"
    assert rej.source_id is None and rej.brin is None
    assert ("$.source_id", "must be a string") in rej.violations


@pytest.mark.parametrize("body", [
    b"\xff\xfe not utf-8", b"", b"{not json", b"[1, 2]", b'"text"', b"NaN",
    b'{"meldingen": {}}', b'{"meldingen": [], "brin": "00AA"}', b"[" * 100_000,
    (SAMPLES / "undecodable.json").read_bytes(),
], ids=["latin", "empty", "broken", "list", "string", "nan", "batch-not-list", "batch-extra",
        "deep", "sample"])
def test_undecodable_bodies(body: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        list(VENDOR.parse(body, content_type=None))
    assert err.value.__cause__ is None or not isinstance(err.value.__cause__, UnicodeError)
    assert "999990081" not in str(err.value)


def test_non_json_content_type_is_refused() -> None:
    with pytest.raises(DecodeError, match="content type"):
        list(VENDOR.parse(b"{}", content_type="text/csv"))
    assert list(VENDOR.parse(b"{}", content_type="application/vnd.school+json")) == [("$", {})]


def test_utf8_bom_and_unicode() -> None:
    doc = dict(_sample("luxe-verzuim.json"), toelichting="Zoë ’t Hoën")
    body = b"\xef\xbb\xbf" + json.dumps(doc, ensure_ascii=False).encode()
    [mapped] = parse_all(body)
    assert isinstance(mapped, MappedRecord) and mapped.melding.toelichting == "Zoë ’t Hoën"


def test_from_duo() -> None:
    event = OutboundEvent(message_id="evt-1", vendor="canonical", brin="00AA",
                          event="registered", source_id="SAMPLE-V3-0001",
                          data={"meldingsnummer": "100234", "status": "R",
                                "business_document_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                                "operation": "aanleveren",
                                "at": datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)},
                          created_at=datetime(2026, 11, 29, tzinfo=timezone.utc))
    body, content_type = VENDOR.from_duo(event)
    assert content_type == "application/json"
    doc = json.loads(body)
    assert list(doc)[:5] == ["message_id", "event", "vendor", "brin", "source_id"]
    assert doc == {"message_id": "evt-1", "event": "registered", "vendor": "canonical",
                   "brin": "00AA", "source_id": "SAMPLE-V3-0001", "meldingsnummer": "100234",
                   "status": "R", "business_document_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                   "operation": "aanleveren", "at": "2026-11-29T09:00:00+00:00"}
    rejected = dataclasses.replace(event, event="rejected", source_id=None, data={
        "errors": [{"code": "VZ002", "field": "student.bsn", "rule": "11-proef", "text": "x"}],
        "position": "$", "operation": "aanleveren"})
    doc = json.loads(VENDOR.from_duo(rejected)[0])
    assert doc["source_id"] is None and doc["errors"][0]["code"] == "VZ002"


def test_samples_are_valid_and_pass_our_rules() -> None:
    kinds = set()
    assert len(VALID) >= 4
    for path in VALID:
        [mapped] = parse_all(path.read_bytes())
        assert isinstance(mapped, MappedRecord), path.name
        assert check_melding(mapped.melding, today=TODAY) == [], path.name
        assert "-Testpersoon" in mapped.melding.student.achternaam
        kinds.add(mapped.melding.verzuimsoort)
    assert {Verzuimsoort.V3, Verzuimsoort.LRV} <= kinds and kinds & {Verzuimsoort.L,
                                                                      Verzuimsoort.RMC}


def test_rod_registry_matches_samples() -> None:
    rod = {s["bsn"]: date.fromisoformat(s["geboortedatum"])
           for s in _sample("rod.json")["students"]}
    from adapter.domain import age_on, allowed_soorten
    for path in VALID:
        [mapped] = parse_all(path.read_bytes())
        m = mapped.melding
        birth = rod[m.student.bsn]
        assert m.student.geboortedatum in (None, birth)
        allowed = m.verzuimsoort in allowed_soorten(age_on(birth, m.begindatum))
        assert allowed == (path.name != "rejected-too-old.json"), path.name
    too_old = parse_all((SAMPLES / "rejected-too-old.json").read_bytes())[0].melding
    assert too_old.student.geboortedatum is None
    assert age_on(rod[too_old.student.bsn], too_old.begindatum) == 19


def test_every_canonical_field_is_documented() -> None:
    docs = DOCS.read_text()
    documented = set(re.findall(r"^\| `([a-z_.\[\]]+)` \|", docs, re.M))
    expected = set(Verzuimmelding.__dataclass_fields__)
    expected |= {f"student.{f}" for f in Student.__dataclass_fields__}
    expected |= {f"melder.{f}" for f in Melder.__dataclass_fields__}
    expected |= {f"verzuimdagen[].{f}" for f in Verzuimdag.__dataclass_fields__}
    expected |= {f"bijlagen[].{f}" for f in Bijlage.__dataclass_fields__}
    expected |= {f"registraties[].{f}" for f in Registratie.__dataclass_fields__}
    assert expected - documented == set()
    assert documented - expected == set()


def test_every_rule_code_is_documented() -> None:
    from adapter.domain import RULES
    docs = DOCS.read_text()
    for code in RULES:
        if code.startswith("VZ03"):
            continue  # length rules share one row
        assert f"| {code} |" in docs, code


def test_every_adapter_code_is_documented() -> None:
    from adapter.domain import ADAPTER_RULES
    docs = DOCS.read_text()
    for code in ADAPTER_RULES:
        assert f"| {code} |" in docs, code


# -- registrations -----------------------------------------------------------------------

REG = {"source_id": "REG-1@2025-10-27", "brin": "00AA",
       "student": {"bsn": "999990019", "leerlingnummer": "403117"},
       "datum": "2025-10-27", "lesuren": [1, 2], "lessons_in_day": 8, "minuten": 100,
       "geoorloofd": False, "luxe": False, "hele_dag": False,
       "modified_at": "2025-10-27T12:00:00+01:00", "deleted": False}


def test_registrations_decode_every_field() -> None:
    whole = dict(REG, source_id="REG-2@2025-10-28", datum="2025-10-28", hele_dag=True,
                 lesuren=[])
    [first, second] = parse_all(json.dumps({"registraties": [REG, whole]}).encode())
    assert isinstance(first, MappedRegistratie) and first.position == "$.registraties[0]"
    assert first.registratie == Registratie(
        source_id="REG-1@2025-10-27", brin="00AA",
        student=Student(bsn="999990019", leerlingnummer="403117"), datum=date(2025, 10, 27),
        lesuren=(1, 2), lessons_in_day=8, minuten=100, geoorloofd=False, luxe=False,
        modified_at=datetime(2025, 10, 27, 11, 0, tzinfo=timezone.utc))
    assert isinstance(second, MappedRegistratie) and second.registratie.hele_dag
    tombstone = {"source_id": "REG-3", "brin": "00AA", "student": {"bsn": "999990019"},
                 "datum": "2025-10-29", "deleted": True}
    [gone] = parse_all(json.dumps({"registraties": [tombstone]}).encode())
    assert isinstance(gone, MappedRegistratie) and gone.registratie.deleted


def test_registrations_and_reports_in_one_body_registrations_first() -> None:
    body = {"meldingen": [_sample("v3-with-days.json")], "registraties": [REG]}
    positions = [pos for pos, _ in VENDOR.parse(json.dumps(body).encode(), content_type=None)]
    assert positions == ["$.registraties[0]", "$.meldingen[0]"]


SECRET_BSN = "999990032"   # valid, but never echoed


@pytest.mark.parametrize("field, bad, rule", [
    ("source_id", None, "required"),
    ("source_id", 12, "must be a string"),
    ("brin", "0A", "BRIN must be 2 digits followed by 2 capitals or digits"),
    ("student", "x", "required object"),
    ("student.bsn", "123456789", "bsn must be 9 digits passing the 11-proef"),
    ("student.bsn", 999990032, "must be a string"),
    ("student.geboortedatum", "2009-13-01", "must be a date YYYY-MM-DD"),
    ("student.extra", SECRET_BSN, "unknown field"),
    ("datum", "27-10-2025", "must be a date YYYY-MM-DD"),
    ("datum", None, "required"),
    ("lesuren", ["1"], "must be a list of whole numbers"),
    ("lesuren", [0, 13], "lesuren must be between 1 and 12"),
    ("lesuren", [2, 2], "lesuren must be unique"),
    ("lesuren", [], "lesuren are required when the verzuimdag is not a whole day"),
    ("hele_dag", "ja", "must be true or false"),
    ("lessons_in_day", 40, "must be between 1 and 12"),
    ("lessons_in_day", 7.5, "must be a whole number"),
    ("minuten", -5, "must not be negative"),
    ("geoorloofd", "nee", "must be true or false"),
    ("luxe", 1, "must be true or false"),
    ("modified_at", "gisteren", "must be an ISO 8601 date-time"),
    ("deleted", "no", "must be true or false"),
    ("extra", SECRET_BSN, "unknown field"),
])
def test_bad_registration_is_rejected_by_position_never_by_value(
        field: str, bad: object, rule: str) -> None:
    entry = json.loads(json.dumps(REG))
    target, key = (entry["student"], field.split(".", 1)[1]) if field.startswith(
        "student.") else (entry, field)
    if bad is None:
        del target[key]
    else:
        target[key] = bad
    body = json.dumps({"registraties": [REG, entry, REG]}).encode()
    out = list(parse_all(body))
    assert [type(x) for x in out] == [MappedRegistratie, RowRejection, MappedRegistratie]
    rejected = out[1]
    assert isinstance(rejected, RowRejection) and rejected.position == "$.registraties[1]"
    assert dict(rejected.violations) == {f"$.registraties[1].{field}": rule}
    # the field is exactly the path above; no rule text quotes the value
    assert all(str(bad) not in text for _, text in rejected.violations)
    assert SECRET_BSN not in repr(rejected)


def test_registration_without_bsn_or_onderwijsnummer() -> None:
    entry = dict(REG, student={"leerlingnummer": "403117"})
    [rejected] = parse_all(json.dumps({"registraties": [entry]}).encode())
    assert isinstance(rejected, RowRejection)
    assert dict(rejected.violations) == {
        "$.registraties[0].student": "exactly one of bsn and onderwijsnummer is required"}
    assert rejected.source_id == "REG-1@2025-10-27" and rejected.brin == "00AA"


@pytest.mark.parametrize("body", [b'{"registraties": {}}', b'{"registraties": [], "x": 1}'])
def test_bad_registration_batches_are_undecodable(body: bytes) -> None:
    with pytest.raises(DecodeError):
        list(VENDOR.parse(body, content_type=None))


def test_gemeentecode_round_trips_and_must_be_four_digits() -> None:
    from adapter.domain.codec import registratie_from_dict, registratie_from_json, registratie_to_dict
    from adapter.errors import RuleViolation
    data = {"source_id": "r1", "brin": "00AA", "verzuimsoort": "V4",
            "begindatum": "2025-11-03", "einddatum": "2025-11-10",
            "vermoedelijke_reden": "x", "melder": {"naam": "M", "emailadres": "m@s.nl"},
            "student": {"bsn": "999990019", "gemeentecode": "0307"}}
    m = melding_from_dict(data)
    assert m.student.gemeentecode == "0307"
    assert melding_from_dict(melding_to_dict(m)) == m
    for bad in ("307", "GM0307", "03070", 307):
        with pytest.raises(RuleViolation) as err:
            melding_from_dict({**data, "student": {"bsn": "999990019", "gemeentecode": bad}})
        assert "$.student.gemeentecode" in str(err.value.violations)
        assert str(bad) not in str(err.value)
    reg = registratie_from_json({"source_id": "w1", "brin": "00AA", "datum": "2025-11-03",
                                 "hele_dag": True,
                                 "student": {"bsn": "999990019", "gemeentecode": "0344"}})
    assert reg.student.gemeentecode == "0344"
    assert registratie_from_dict(registratie_to_dict(reg)) == reg
