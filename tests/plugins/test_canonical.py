"""The built-in canonical vendor: parse, to_duo, from_duo, the samples and the format docs."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from adapter.vendors.canonical import VENDOR, parse_all
from adapter.domain import (Bijlage, MappedRecord, Melder, OutboundEvent, RowRejection, Student,
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
