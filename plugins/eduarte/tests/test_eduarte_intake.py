"""The samples through the daemon's real intake and SQLite store (no broker, no DUO):
the V3 report is queued with exactly the unauthorised lessons as its dagspecificatie;
in a deployment for two schools in different regions each gets its own holidays."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from adapter.config import load_settings
from adapter.domain.model import Verzuimdag
from adapter.pipeline.intake import Intake
from adapter.vendors import load_vendors
from adapter.sis import Delivery
from adapter.store import Store
from verzuim_eduarte import plugin
from verzuim_eduarte.schema import REGISTRATION_HEADER, REPORT_HEADER

from eduarte_support import SAMPLES, csv_body, registratie_row, report_row

SCHOOL_OIN = "00000099000000000001"


def _deliver(intake: Intake, name: str, n: int) -> str:
    delivery = Delivery(body=(SAMPLES / name).read_bytes(), routing_key="eduarte.export",
                        message_id=f"eduarte-intake-{n}", content_type="text/csv", headers={},
                        redelivered=False, timestamp=None, delivery_tag=n)
    return intake.handle(delivery).action


def test_samples_fill_the_dagspecificatie_in_the_store(tmp_path: Path) -> None:
    settings = load_settings(None, overrides={
        "school": {"brin": "00AA", "oin": SCHOOL_OIN},
        "store": {"url": f"sqlite:///{tmp_path / 'store.db'}"}})
    store = Store.open(settings.store.url)
    try:
        intake = Intake(settings, store, load_vendors(entry_points=False, plugins=[plugin]),
                        today=lambda: date(2025, 12, 1))
        names = ["02-registraties-v3-oktober.csv", "03-melding-v3.csv",
                 "05-melding-onderwijsnummer.csv",            # report before its registrations
                 "04-registraties-onderwijsnummer.csv", "06-registraties-geoorloofd.csv"]
        assert [_deliver(intake, name, n) for n, name in enumerate(names, 1)] == ["ack"] * 5
        claims = {c.melding.source_id: c.melding for c in store.claim_due(limit=10)}
    finally:
        store.close()
    assert set(claims) == {"VM-2025-0101", "VM-2025-0102"}  # nothing for the authorised student
    assert claims["VM-2025-0101"].verzuimdagen == (
        Verzuimdag(date(2025, 10, 13), lesuren=(1, 2)),
        Verzuimdag(date(2025, 10, 14), hele_dag=True),
        Verzuimdag(date(2025, 10, 15), hele_dag=True),
        Verzuimdag(date(2025, 10, 16), lesuren=(5, 6)),
        Verzuimdag(date(2025, 10, 27), lesuren=(1, 2, 3, 4, 6)))
    assert claims["VM-2025-0102"].verzuimdagen == (
        Verzuimdag(date(2025, 10, 30), lesuren=(5, 6, 7, 8)),
        Verzuimdag(date(2025, 10, 31), hele_dag=True),
        Verzuimdag(date(2025, 11, 3), hele_dag=True),
        Verzuimdag(date(2025, 11, 4), lesuren=(1, 2, 3, 4)))


SAAS = """
[[schools]]
brin = "00AA"
oin = "00000099000000000001"
region = "noord"

[[schools]]
brin = "01BB"
oin = "00000099000000000002"
region = "zuid"
"""


def test_saas_schools_in_two_regions_get_their_own_holidays(tmp_path: Path) -> None:
    """Issue 7, item 5: one deployment for a school in region noord (00AA) and one in zuid
    (01BB). The same whole-day absences on Monday 13 Oct 2025 (herfstvakantie zuid) and
    Monday 20 Oct 2025 (herfstvakantie noord) go through the configuration, the hook, the
    plugin's mapping and the intake into the store: each school's report counts only the
    day that is a school day there."""
    cfg = tmp_path / "saas.toml"
    cfg.write_text(SAAS + f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n')
    settings = load_settings(cfg)
    store = Store.open(settings.store.url)
    students = {"00AA": "999973149", "01BB": "999973125"}
    registrations = [registratie_row({"Registratie-id": f"AM-{n}{day}", "BRIN": brin,
                                      "BSN": bsn, "Begindatum": f"{day}-10-2025",
                                      "Einddatum": f"{day}-10-2025",
                                      "Gewijzigd op": f"{day}-10-2025 12:00:00"})
                     for n, (brin, bsn) in enumerate(students.items(), 1)
                     for day in ("13", "20")]
    reports = [report_row({"Melding-id": f"VM-{brin}", "BRIN": brin, "BSN": bsn,
                           "Begindatum": "13-10-2025", "Einddatum": "20-10-2025",
                           "Gewijzigd op": "21-10-2025 09:00:00"})
               for brin, bsn in students.items()]
    try:
        registry = load_vendors(entry_points=False, plugins=[plugin],
                                calendars=settings.school_calendars())
        intake = Intake(settings, store, registry, today=lambda: date(2025, 12, 1))
        for n, body in enumerate([csv_body(REGISTRATION_HEADER, *registrations),
                                  csv_body(REPORT_HEADER, *reports)], 1):
            delivery = Delivery(body=body, routing_key="eduarte.export",
                                message_id=f"saas-{n}", content_type="text/csv", headers={},
                                redelivered=False, timestamp=None, delivery_tag=n)
            assert intake.handle(delivery).action == "ack"
        claims = {c.melding.brin: c.melding for c in store.claim_due(limit=10)}
    finally:
        store.close()
    assert claims["00AA"].verzuimdagen == (Verzuimdag(date(2025, 10, 13), hele_dag=True),)
    assert claims["01BB"].verzuimdagen == (Verzuimdag(date(2025, 10, 20), hele_dag=True),)
