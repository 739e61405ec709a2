"""Helpers shared by the eduarte plugin tests (pure logic: no broker, no database)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from adapter.domain import dagspec
from adapter.domain.model import (MappedRecord, MappedRegistratie, Registratie, RowRejection,
                                  Verzuimdag)
from adapter.testing import make_melding
from verzuim_eduarte.plugin import EduarteVendor
from verzuim_eduarte.schema import REGISTRATION_HEADER, REPORT_HEADER

PLUGIN = Path(__file__).resolve().parents[1]
SAMPLES = PLUGIN / "samples"
EXAMPLE = SAMPLES / "sis-systems-6.1-voorbeeld.csv"
DEMO = sorted(SAMPLES.glob("0*.csv"))


def run(vendor: EduarteVendor, body: bytes, content_type: str | None = "text/csv"
        ) -> list[MappedRecord | MappedRegistratie | RowRejection]:
    """parse + to_duo the way the daemon's intake does (rejections first)."""
    natives, rejected = [], []
    for item in vendor.parse(body, content_type=content_type):
        (rejected if isinstance(item, RowRejection) else natives).append(item)
    return [*rejected, *vendor.to_duo(natives)]


def csv_body(header: Iterable[str], *rows: str, bom: bool = True) -> bytes:
    text = ";".join(header) + "\r\n" + "".join(r + "\r\n" for r in rows)
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def registratie_row(overrides: dict[str, str] | None = None) -> str:
    """One valid Absentiemelding row (whole day, 06-10-2025, OG) with columns (by header name) overridden."""
    base = dict(zip(REGISTRATION_HEADER, (
        "AM-1", "Absentiemelding", "731299", "999973149", "", "12-05-2009", "0344", "00AA", "00",
        "Locatie Test", "99011", "BOL", "2", "06-10-2025", "00:00", "06-10-2025", "23:59", "",
        "", "", "", "OG", "Geen geldige reden", "Absent", "N", "J", "",
        "06-10-2025 12:00:00", "N")))
    assert set(overrides or {}) <= set(base), "unknown column in overrides"
    base.update(overrides or {})
    return ";".join(base[c] for c in REGISTRATION_HEADER)


def report_row(overrides: dict[str, str] | None = None) -> str:
    """One valid V3 report row with columns (by header name) overridden."""
    base = dict(zip(REPORT_HEADER, (
        "VM-1", "731299", "999973149", "", "12-05-2009", "00AA", "00", "", "V3", "06-10-2025",
        "10-10-2025", "Testreden", "", "J", "Gesprek", "", "N", "Test Melder", "", "",
        "melder@roc-00aa.test", "", "", "11-10-2025 09:00:00", "N")))
    assert set(overrides or {}) <= set(base), "unknown column in overrides"
    base.update(overrides or {})
    return ";".join(base[c] for c in REPORT_HEADER)


def registraties(items: Iterable[object]) -> list[Registratie]:
    return [m.registratie for m in items if isinstance(m, MappedRegistratie)]


def merge_days(regs: Iterable[Registratie], begin: date, end: date, *, bsn: str | None = None,
               onderwijsnummer: str | None = None) -> list[Verzuimdag]:
    """The adapter's own merge (``adapter.domain.dagspec.merge_days``) for a report of
    ``begin``..``end``, fed as the store would: the newest version per source id, of
    this student only."""
    latest: dict[str, Registratie] = {}
    for r in regs:
        old = latest.get(r.source_id)
        if old is None or (r.modified_at and old.modified_at and r.modified_at >= old.modified_at):
            latest[r.source_id] = r
    mine = [r for r in latest.values()
            if (r.student.bsn, r.student.onderwijsnummer) == (bsn, onderwijsnummer)]
    report = make_melding(begindatum=begin, einddatum=end, verzuimdagen=())
    return list(dagspec.merge_days(report, mine)[0])
