"""The key tables in verzuim_magister.schema, the README and the parser agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from magister_helpers import a_melding, an_item, dumps, minimal_export, run
from verzuim_magister import schema

README = Path(__file__).resolve().parents[1] / "README.md"
HEADINGS = {"Export": "Export", "Leerlingen entry": "Leerling", "Items entry": "Item",
            "Afspraak": "Afspraak", "Vakken entry": "Vak", "Melder": "Melder",
            "Bijlagen entry": "Bijlage", "Meldingen entry": "Melding"}
README_KINDS = {"string": "string", "int": "int", "bool": "bool", "date": "date",
                "timestamp": "timestamp", "object": "object", "array": "array",
                "int or string": "id"}


def readme_tables() -> dict[str, list[tuple[str, str, str]]]:
    """{table: [(key, type, required)]} from the README's '### <heading>' key tables."""
    tables: dict[str, list[tuple[str, str, str]]] = {}
    current = None
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            title = line[4:].split(" (")[0].strip()
            current = HEADINGS.get(title)
            continue
        row = re.match(r"\| `([A-Za-z]+)` \| ([^|]+) \| ([^|]+) \|", line)
        if current and row and current in HEADINGS.values():
            tables.setdefault(current, []).append(
                (row.group(1), row.group(2).strip(), row.group(3).strip()))
    return tables


def test_readme_documents_every_table_key_by_key():
    tables = readme_tables()
    assert set(tables) == set(schema.TABLES)
    for name, keys in schema.TABLES.items():
        documented = tables[name]
        assert [k for k, _, _ in documented] == schema.key_names(keys), name
        for key, (doc_key, doc_type, doc_required) in zip(keys, documented):
            assert README_KINDS[doc_type] == key.kind, f"{name}.{doc_key}"
            if name != "Leerling" or doc_key == "Stamnummer":
                assert (doc_required == "yes") == key.required, f"{name}.{doc_key}"


def test_readme_code_list_matches_schema():
    text = README.read_text(encoding="utf-8")
    rows = re.findall(r"\| `([A-Z]{1,4})` \| [^|]+ \| ([0-9]) \| ([^|]+) \| (true|false) \|", text)
    documented = {code: (int(t), None if "ignored" in g else g.strip() == "true", luxe == "true")
                  for code, t, g, luxe in rows}
    assert documented == schema.CODES


def test_readme_verzuimsoort_words_match_schema():
    text = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"\| `([0-9A-Z]+)` \| `([A-Z0-9]+)` \|", text))
    assert rows == schema.VERZUIMSOORTEN


@pytest.mark.parametrize("key", [k.name for k in schema.ITEM if k.required])
def test_every_required_item_key_is_enforced(vendor, key):
    item = an_item()
    del item[key]
    regs, _, rejections = run(vendor, dumps(minimal_export(items=[item])))
    assert not regs
    assert [r.position for r in rejections] == ["$.Items[0]"]
    assert (f"$.Items[0].{key}", "is required") in rejections[0].violations


@pytest.mark.parametrize("key", [k.name for k in schema.MELDING if k.required])
def test_every_required_melding_key_is_enforced(vendor, key):
    melding = a_melding()
    melding[key] = None
    _, reports, rejections = run(vendor, dumps(minimal_export(meldingen=[melding])))
    assert not reports
    assert (f"$.Meldingen[0].{key}", "is required") in rejections[0].violations


WRONG = {"string": 12, "int": "12", "bool": "true", "date": "03-11-2025",
         "timestamp": "2025-11-03T08:30:00", "object": [], "array": {}, "id": True}


@pytest.mark.parametrize("table,key", [("Item", k) for k in schema.ITEM]
                         + [("Melding", k) for k in schema.MELDING], ids=str)
def test_every_key_checks_its_type(vendor, table, key):
    record = an_item() if table == "Item" else a_melding()
    record[key.name] = WRONG[key.kind]
    doc = (minimal_export(items=[record]) if table == "Item"
           else minimal_export(meldingen=[record]))
    regs, reports, rejections = run(vendor, dumps(doc))
    where = "$.Items[0]" if table == "Item" else "$.Meldingen[0]"
    assert not regs and not reports
    assert [f for f, _ in rejections[0].violations][0].startswith(f"{where}.{key.name}")


def test_unknown_keys_are_ignored(vendor):
    item = an_item(Lokatie="B1.04", Docenten=[{"Naam": "x"}])
    item["Afspraak"]["DuurtHeleDag"] = False
    regs, _, rejections = run(vendor, dumps(minimal_export(items=[item])))
    assert len(regs) == 1 and not rejections


def test_check_converts_dates_timestamps_and_ids():
    values, violations = schema.check(a_melding(id_=77, VervolgOp="VM-1"), schema.MELDING, "$")
    assert not violations
    assert values["Id"] == "77" and values["VervolgOp"] == "VM-1"
    assert values["Begindatum"].isoformat() == "2025-11-03"
    assert values["GewijzigdOp"].isoformat() == "2025-11-10T08:00:00+00:00"
    _, bad = schema.check({"Begindatum": "2025-02-31"}, (schema.Key("Begindatum", "date"),), "$")
    assert bad == [("$.Begindatum", "is not a valid date")]
