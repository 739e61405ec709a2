"""The samples through the daemon's real intake and SQLite store (no broker, no DUO):
the V3 report is queued with exactly the unauthorised lessons as its dagspecificatie."""

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

from eduarte_support import SAMPLES

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
