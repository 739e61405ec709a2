"""Rejections at intake carry the rule's own code, field and position (never a value).

The real intake, the canonical vendor and a SQLite store; no broker. (Before, every
intake rejection said ``"code": "VALIDATION"`` and DUO's schema was first checked
by DUO, which answered DK0004.)
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from adapter.config import Settings
from adapter.domain.rules import ADAPTER_RULES, RULES
from adapter.pipeline.intake import Intake
from adapter.sis import Delivery
from adapter.store import Store
from adapter.vendors import load_vendors

TODAY = date(2025, 12, 1)


def record(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source_id": "VM-1", "brin": "00AA", "student": {"bsn": "123456782"},
        "verzuimsoort": "V3", "begindatum": "2025-11-03", "einddatum": "2025-11-07",
        "vermoedelijke_reden": "Spijbelt (testtekst)",
        "melder": {"naam": "Mentor Test", "emailadres": "mentor@school.test"},
        "verzuimdagen": [{"datum": "2025-11-03", "hele_dag": True}]}
    body.update(changes)
    return body


def deliver(settings: Settings, store: Store, *records: dict[str, Any]) -> list[dict[str, Any]]:
    intake = Intake(settings, store, load_vendors(entry_points=False), today=lambda: TODAY)
    body = json.dumps({"meldingen": list(records)}).encode()
    delivery = Delivery(body=body, routing_key="canonical.export", message_id="m-1",
                        content_type="application/json", headers={}, redelivered=False,
                        timestamp=None, delivery_tag=1)
    assert intake.handle(delivery).action == "ack"
    return [e.data for _, e in store.pending_events(limit=20) if e.event == "rejected"]


def test_a_rule_violation_carries_its_vz_code(settings: Settings, store: Store) -> None:
    [event] = deliver(settings, store, record(student={"bsn": "123456789"}))
    assert event["errors"] == [{"code": "VZ002", "field": "student.bsn",
                                "rule": RULES["VZ002"], "text": RULES["VZ002"]}]
    assert event["position"] == "$.meldingen[0]"
    assert "123456789" not in json.dumps(event)


def test_a_format_violation_carries_ad010(settings: Settings, store: Store) -> None:
    [event] = deliver(settings, store, record(begindatum="03-11-2025"))
    [error] = event["errors"]
    assert error["code"] == "AD010" and error["field"] == "$.meldingen[0].begindatum"
    assert error["rule"] and error["text"] == error["rule"]


def test_another_school_carries_ad011(settings: Settings, store: Store) -> None:
    [event] = deliver(settings, store, record(brin="99ZZ"))
    assert event["errors"] == [{"code": "AD011", "field": "brin", "rule": ADAPTER_RULES["AD011"],
                                "text": ADAPTER_RULES["AD011"]}]


def test_schema_violations_are_refused_before_anything_is_queued(
        settings: Settings, store: Store) -> None:
    bad = record(melder={"naam": "Mentor Test", "emailadres": "mentor@school.test",
                         "telefoonnummer": "06-12ab5678"},
                 actie_ondernomen=False, toelichting_actie_gewenst="t" * 1500)
    fine = record(source_id="VM-2", student={"bsn": "111222333"})
    [event] = deliver(settings, store, bad, fine)
    assert [(e["code"], e["field"]) for e in event["errors"]] == [
        ("AD002", "toelichting_actie_gewenst"), ("AD001", "melder.telefoonnummer")]
    assert event["position"] == "$.meldingen[0]"
    assert "06-12ab5678" not in json.dumps(event) and "ttt" not in json.dumps(event)
    claims = store.claim_due(limit=10)
    assert [c.melding.source_id for c in claims] == ["VM-2"]


def test_magister_afwijzing_carries_code_field_rule_and_text(settings: Settings,
                                                             store: Store) -> None:
    """What plugins/magister/README.md promises: Fouten [{Code, Veld, Regel, Tekst}]."""
    from verzuim_magister import plugin as magister
    vendors = load_vendors(entry_points=False, plugins=[magister])
    export = {"Export": {"Brin": "00AA"},
              "Leerlingen": [{"Stamnummer": "1", "Bsn": "123456782"}],
              "Items": [{"Id": 1, "Stamnummer": "1", "Start": "3 november", "Eind": None,
                         "Code": "A", "Verantwoordingtype": 1, "Geoorloofd": False,
                         "Afspraak": {"Type": 13, "Status": 1}}],
              "Meldingen": None}
    intake = Intake(settings, store, vendors, today=lambda: TODAY)
    delivery = Delivery(body=json.dumps(export).encode(), routing_key="magister.export",
                        message_id="m-mag", content_type="application/json", headers={},
                        redelivered=False, timestamp=None, delivery_tag=1)
    assert intake.handle(delivery).action == "ack"
    [(_, event)] = store.pending_events(limit=5)
    body, _ = vendors.get("magister").from_duo(event)
    doc = json.loads(body)
    assert doc["Soort"] == "Afwijzing" and doc["Positie"] == "$.Items[0]"
    assert [(f["Code"], f["Veld"]) for f in doc["Fouten"]] == [
        ("AD010", "$.Items[0].Start"), ("AD010", "$.Items[0].Eind")]
    assert all(f["Regel"] and f["Tekst"] == f["Regel"] for f in doc["Fouten"])
    assert "3 november" not in body.decode()
