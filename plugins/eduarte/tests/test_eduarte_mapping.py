"""Mapping: per-day registrations (schedule, holidays, DST, overlaps, authorised, late,
removed, deleted), reports, the V3 dagspecificatie of the samples, chunk independence."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from adapter.domain import check_melding
from adapter.domain.model import (Bijlage, MappedRecord, MappedRegistratie, RowRejection,
                                  Verzuimdag, Verzuimsoort)
from verzuim_eduarte.plugin import EduarteVendor
from verzuim_eduarte.schema import REGISTRATION_HEADER, REPORT_HEADER

from eduarte_support import (EXAMPLE, SAMPLES, csv_body, merge_days, registraties,
                             registratie_row, report_row, run)

A_BSN, B_ONR, C_BSN = "999973113", "107310023", "999973125"


def _reg(vendor, **kw):
    return registraties(run(vendor, csv_body(REGISTRATION_HEADER, registratie_row(kw))))


def test_section_6_1_example_rows(vendor) -> None:
    regs = registraties(run(vendor, EXAMPLE.read_bytes()))
    by_id = {r.source_id: r for r in regs}
    # row 1: onderwijsnummer only; lessons 1-4 across the break: 180 lesson minutes
    wn = by_id["WN-5512001@2025-10-06"]
    assert (wn.student.bsn, wn.student.onderwijsnummer, wn.student.leerlingnummer) == (
        None, "104008708", "403117")
    assert (wn.lesuren, wn.hele_dag, wn.minuten, wn.lessons_in_day) == ((1, 2, 3, 4), False, 180, 8)
    assert wn.geoorloofd is False and wn.student.geboortedatum == date(2009, 3, 14)
    # row 2: whole-day melding 6-7 Oct, overlapping row 1 (the adapter counts it once)
    assert [by_id[f"AM-0087731@2025-10-0{d}"].hele_dag for d in (6, 7)] == [True, True]
    assert merge_days(regs, date(2025, 10, 6), date(2025, 10, 7), onderwijsnummer="104008708") == [
        Verzuimdag(date(2025, 10, 6), hele_dag=True), Verzuimdag(date(2025, 10, 7), hele_dag=True)]
    # row 3: ZK over herfstvakantie: only 17 and 27 Oct are school days; authorised
    zk = sorted(r.source_id for r in regs if r.source_id.startswith("AM-0087790"))
    assert zk == ["AM-0087790@2025-10-17", "AM-0087790@2025-10-27"]
    assert all(by_id[i].geoorloofd is True and by_id[i].student.bsn == "999933632" for i in zk)
    assert merge_days(regs, date(2025, 10, 17), date(2025, 10, 27), bsn="999933632") == []


def test_v3_sample_dagspecificatie_is_exactly_the_unauthorised_lessons(vendor) -> None:
    regs = registraties(run(vendor, (SAMPLES / "02-registraties-v3-oktober.csv").read_bytes()))
    [report] = run(vendor, (SAMPLES / "03-melding-v3.csv").read_bytes())
    m = report.melding
    assert (m.source_id, m.verzuimsoort, m.begindatum, m.einddatum, m.student.bsn) == (
        "VM-2025-0101", Verzuimsoort.V3, date(2025, 10, 13), date(2025, 10, 27), A_BSN)
    assert m.verzuimdagen == ()  # the adapter fills them
    days = merge_days(regs, m.begindatum, m.einddatum, bsn=A_BSN)
    assert days == [
        Verzuimdag(date(2025, 10, 13), lesuren=(1, 2)),          # double lesson
        Verzuimdag(date(2025, 10, 14), hele_dag=True),           # melding + waarneming, once
        Verzuimdag(date(2025, 10, 15), hele_dag=True),
        Verzuimdag(date(2025, 10, 16), lesuren=(5, 6)),          # late arrival in 1 not counted
        Verzuimdag(date(2025, 10, 27), lesuren=(1, 2, 3, 4, 6)),  # after DST; 6 = removed
    ]
    unauthorised = sum(r.minuten for r in regs if not r.deleted and r.geoorloofd is not True
                       and r.source_id != "WN-7310002@2025-10-14")  # overlap counted once
    assert unauthorised >= 16 * 60  # the 16 hours are really there


def test_onderwijsnummer_sample_maps_and_matches(vendor) -> None:
    regs = registraties(run(vendor, (SAMPLES / "04-registraties-onderwijsnummer.csv").read_bytes()))
    [report] = run(vendor, (SAMPLES / "05-melding-onderwijsnummer.csv").read_bytes())
    m = report.melding
    assert (m.student.bsn, m.student.onderwijsnummer) == (None, B_ONR)
    assert {(r.student.bsn, r.student.onderwijsnummer) for r in regs} == {(None, B_ONR)}
    assert merge_days(regs, m.begindatum, m.einddatum, onderwijsnummer=B_ONR) == [
        Verzuimdag(date(2025, 10, 30), lesuren=(5, 6, 7, 8)),
        Verzuimdag(date(2025, 10, 31), hele_dag=True),
        Verzuimdag(date(2025, 11, 3), hele_dag=True),   # the weekend in between is skipped
        Verzuimdag(date(2025, 11, 4), lesuren=(1, 2, 3, 4)),
    ]
    assert not [r for r in regs if r.datum in (date(2025, 11, 1), date(2025, 11, 2))]


def test_authorised_only_sample_gives_no_unauthorised_day(vendor) -> None:
    items = run(vendor, (SAMPLES / "06-registraties-geoorloofd.csv").read_bytes())
    regs = registraties(items)
    assert len(regs) == 4 and all(r.geoorloofd is True for r in regs)
    assert not [i for i in items if isinstance(i, (MappedRecord, RowRejection))]


def test_lrv_sent_without_einddatum_then_amended(vendor) -> None:
    [first] = run(vendor, (SAMPLES / "01-melding-lrv-zonder-einddatum.csv").read_bytes())
    [later] = run(vendor, (SAMPLES / "07-melding-lrv-met-einddatum.csv").read_bytes())
    a, b = first.melding, later.melding
    assert a.source_id == b.source_id == "VM-2025-0301" and a.verzuimsoort is Verzuimsoort.LRV
    assert a.einddatum is None and b.einddatum == date(2025, 11, 14)
    assert b.modified_at > a.modified_at
    assert a.bijlagen == (Bijlage("huisbezoekverslag-kwikstaart.pdf", "application/pdf",
                                  "eduarte://00AA/dossier/731203/4471"),)
    for m in (a, b):
        assert check_melding(m, today=date(2025, 11, 30)) == []


def test_every_demo_report_passes_the_adapter_rules(vendor) -> None:
    for path in sorted(SAMPLES.glob("0*-melding-*.csv")):
        for item in run(vendor, path.read_bytes()):
            assert isinstance(item, MappedRecord), path.name
            assert check_melding(item.melding, today=date(2025, 12, 1)) == [], path.name


def test_first_monday_after_dst_maps_local_times(vendor) -> None:
    """27 Oct 2025 is UTC+1 (26 Oct the clocks went back): 08:30 local is lesson 1 and
    the stamp converts with the winter offset; 17 Oct still had the summer offset."""
    [mon] = _reg(vendor, **{"Registratie-id": "AM-5", "Begindatum": "27-10-2025",
                            "Begintijd": "08:30", "Einddatum": "27-10-2025",
                            "Eindtijd": "10:00", "Gewijzigd op": "27-10-2025 08:45:00"})
    assert mon.lesuren == (1, 2) and mon.minuten == 90
    assert mon.modified_at.astimezone(timezone.utc) == datetime(2025, 10, 27, 7, 45, tzinfo=timezone.utc)
    [fri] = _reg(vendor, **{"Registratie-id": "AM-6", "Begindatum": "17-10-2025",
                            "Begintijd": "08:30", "Einddatum": "17-10-2025",
                            "Eindtijd": "10:00", "Gewijzigd op": "17-10-2025 08:45:00"})
    assert fri.lesuren == mon.lesuren  # same wall-clock lessons either side of the switch
    assert fri.modified_at.astimezone(timezone.utc) == datetime(2025, 10, 17, 6, 45, tzinfo=timezone.utc)
    [amb] = _reg(vendor, **{"Registratie-id": "AM-7", "Gewijzigd op": "26-10-2025 02:30:00"})
    assert amb.modified_at.utcoffset() == timedelta(hours=2)  # repeated hour: first (summer)


def test_herfstvakantie_day_is_left_out(vendor) -> None:
    body = csv_body(REGISTRATION_HEADER, registratie_row({
        "Begindatum": "24-10-2025", "Einddatum": "27-10-2025"}))
    assert [r.datum for r in registraties(run(vendor, body))] == [date(2025, 10, 27)]


def test_break_and_partial_lessons_by_clock(vendor) -> None:
    [r] = _reg(vendor, **{"Begintijd": "09:50", "Einddatum": "06-10-2025", "Eindtijd": "10:20"})
    assert r.lesuren == (2, 3) and r.minuten == 15  # 10 min of lesson 2, 5 of lesson 3
    assert _reg(vendor, **{"Begintijd": "10:00", "Eindtijd": "10:15"}) == []  # the break only


def test_multi_day_melding_uses_times_on_first_and_last_day(vendor) -> None:
    regs = _reg(vendor, **{"Begindatum": "06-10-2025", "Begintijd": "12:15",
                           "Einddatum": "08-10-2025", "Eindtijd": "10:00"})
    assert [(r.datum.day, r.lesuren, r.hele_dag) for r in regs] == [
        (6, (5, 6, 7, 8), False), (7, (1, 2, 3, 4, 5, 6, 7, 8), True), (8, (1, 2), False)]
    assert {r.source_id for r in regs} == {"AM-1@2025-10-06", "AM-1@2025-10-07", "AM-1@2025-10-08"}


def test_lesuur_outside_the_schedule_is_rejected(vendor) -> None:
    [rej] = run(vendor, csv_body(REGISTRATION_HEADER, registratie_row(
        {"Beginlesuur": "8", "Eindlesuur": "10"})))
    assert isinstance(rej, RowRejection)
    assert rej.violations == (("Eindlesuur", "lesuur not in the configured lesuurindeling"),)


def test_open_ended_melding_runs_until_its_last_change(vendor) -> None:
    regs = _reg(vendor, **{"Redencode": "ZK", "Geoorloofd": "", "Einddatum": "", "Eindtijd": "",
                           "Gewijzigd op": "09-10-2025 07:00:00"})
    assert [r.datum.day for r in regs] == [6, 7, 8, 9]
    assert all(r.geoorloofd is True for r in regs)  # from the code list when the row is empty


def test_late_is_not_absence_unless_configured() -> None:
    row = {"Redencode": "TL", "Absentiesoort": "Telaat", "Beginlesuur": "1", "Eindlesuur": "1",
           "Begintijd": "08:30", "Eindtijd": "08:40"}
    [tomb] = _reg(EduarteVendor(), **row)
    assert tomb.deleted is True and tomb.source_id == "AM-1@2025-10-06"
    [late] = _reg(EduarteVendor({"count_late": True}), **row)
    assert (late.deleted, late.lesuren, late.geoorloofd) == (False, (1,), False)


def test_removed_from_class_counts_as_unauthorised(vendor) -> None:
    [r] = _reg(vendor, **{"Redencode": "UV", "Absentiesoort": "Verwijderd", "Geoorloofd": "J",
                          "Beginlesuur": "6", "Eindlesuur": "6"})
    assert (r.deleted, r.geoorloofd, r.lesuren, r.minuten) == (False, False, (6,), 45)


def test_present_waarneming_and_deleted_rows_are_tombstones(vendor) -> None:
    [present] = _reg(vendor, **{"Registratie-id": "WN-3", "Registratiesoort": "Waarneming",
                                "Waarnemingsoort": "Aanwezig", "Redencode": "",
                                "Beginlesuur": "1", "Eindlesuur": "2"})
    assert present.deleted and present.source_id == "WN-3@2025-10-06"
    deleted = _reg(vendor, **{"Einddatum": "10-10-2025", "Verwijderd": "J"})
    assert [(r.datum.day, r.deleted) for r in deleted] == [(d, True) for d in (6, 7, 8, 9, 10)]


def test_luxe_and_unexplained(vendor) -> None:
    [lx] = _reg(vendor, **{"Redencode": "LX", "Geoorloofd": ""})
    assert lx.luxe is True and lx.geoorloofd is False
    [unexplained] = _reg(vendor, **{"Registratie-id": "WN-4", "Registratiesoort": "Waarneming",
                                    "Waarnemingsoort": "Afwezig", "Redencode": "", "Geoorloofd": "",
                                    "Absentiesoort": "", "Beginlesuur": "3", "Eindlesuur": "3",
                                    "Minuten": "45"})
    assert unexplained.geoorloofd is None and unexplained.minuten == 45


def test_report_fields_and_identifier_choice(vendor) -> None:
    [rec] = run(vendor, csv_body(REPORT_HEADER, report_row({
        "Onderwijsnummer": "107310011", "Vervolg op": "VM-0", "Locatiecode": "123A456",
        "Actie ondernomen": "N", "Actie gewenst": "Huisbezoek", "Verwijderd": "J",
        "Bijlagen": '"a.pdf|application/pdf|r1;b.png|image/png|r2"'})))
    m = rec.melding
    assert (m.student.bsn, m.student.onderwijsnummer, m.student.leerlingnummer) == (
        "999973149", None, "731299")  # both given: the BSN (DUO takes one)
    assert (m.vervolg_op, m.onderwijslocatiecode, m.deleted) == ("VM-0", "123A456", True)
    assert (m.actie_ondernomen, m.toelichting_actie_gewenst) == (False, "Huisbezoek")
    assert [b.referentie for b in m.bijlagen] == ["r1", "r2"]
    assert m.melder.naam == "Test Melder" and m.melder.emailadres == "melder@roc-00aa.test"
    assert m.modified_at == datetime(2025, 10, 11, 7, 0, tzinfo=timezone.utc)


def test_age_is_not_the_plugins_business(vendor) -> None:
    """A V3 report for a student who is 19: the plugin passes the birth date on and maps it;
    the adapter's rules (per date) decide. Without a birth date nothing is invented."""
    [old] = run(vendor, csv_body(REPORT_HEADER, report_row({"Geboortedatum": "01-01-2006"})))
    assert isinstance(old, MappedRecord) and old.melding.student.geboortedatum == date(2006, 1, 1)
    assert [v.code for v in check_melding(old.melding, today=date(2025, 12, 1))] == ["VZ007"]
    [none] = run(vendor, csv_body(REPORT_HEADER, report_row({"Geboortedatum": ""})))
    assert none.melding.student.geboortedatum is None


@pytest.mark.parametrize("size", [1, 2, 3, 1000])
def test_to_duo_works_on_any_chunk(vendor, size: int) -> None:
    body = b"".join(p.read_bytes() for p in [SAMPLES / "02-registraties-v3-oktober.csv"])
    natives = list(vendor.parse(body, content_type="text/csv"))
    whole = list(vendor.to_duo(natives))
    chunked = [m for i in range(0, len(natives), size) for m in vendor.to_duo(natives[i:i + size])]
    assert chunked == whole
    assert list(vendor.to_duo(natives)) == whole  # deterministic, no state kept


def test_mapped_registraties_carry_the_row_position(vendor) -> None:
    items = run(vendor, (SAMPLES / "02-registraties-v3-oktober.csv").read_bytes())
    positions = {m.registratie.source_id.split("@")[0]: m.position
                 for m in items if isinstance(m, MappedRegistratie)}
    assert positions["WN-7310001"] == "row 2" and positions["AM-7310014"] == "row 9"


def test_woongemeentecode_becomes_the_students_gemeentecode(vendor) -> None:
    """Registrations: Woongemeentecode -> student.gemeentecode (regional agreements; never
    sent to DUO). The report export has no such column: its reports carry none and the
    adapter takes the student's registrations' code."""
    [reg] = registraties(run(vendor, csv_body(REGISTRATION_HEADER,
                                              registratie_row({"Woongemeentecode": "0307"}))))
    assert reg.student.gemeentecode == "0307"
    [none] = registraties(run(vendor, csv_body(REGISTRATION_HEADER,
                                               registratie_row({"Woongemeentecode": ""}))))
    assert none.student.gemeentecode is None
    [rec] = run(vendor, csv_body(REPORT_HEADER, report_row({"Verzuimsoort": "V4"})))
    assert isinstance(rec, MappedRecord) and rec.melding.student.gemeentecode is None
    assert "Woongemeentecode" not in REPORT_HEADER


def test_a_bad_woongemeentecode_rejects_the_row(vendor) -> None:
    [rejection] = run(vendor, csv_body(REGISTRATION_HEADER,
                                       registratie_row({"Woongemeentecode": "307"})))
    assert isinstance(rejection, RowRejection)
    assert [f for f, _ in rejection.violations] == ["Woongemeentecode"]
