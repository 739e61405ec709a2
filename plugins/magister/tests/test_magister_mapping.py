"""Mapping: §6.2 quirks, DST, filters, the V3 sample's dagspecificatie, reports, age."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from adapter.domain.calendar import Calendars, SchoolCalendar
from adapter.domain.dagspec import merge_days
from adapter.domain.model import Verzuimdag, Verzuimsoort
from adapter.domain.rules import check_melding
from magister_helpers import (DEMO, EXAMPLE, LESSONS, a_melding, an_item, dumps, minimal_export,
                              run, vendor_for)


def by_id(regs):
    return {m.registratie.source_id: m.registratie for m in regs}


def test_example_items(vendor):
    regs, reports, rejections = run(vendor, EXAMPLE.read_bytes())
    assert not reports and not rejections
    got = by_id(regs)
    # 7300121: 09:10Z is 10:10 CET -> lesuur 3; the student is 17 that day (birth date passed on)
    plain = got["7300121"]
    assert (plain.datum, plain.lesuren, plain.minuten) == (date(2025, 11, 3), (3,), 50)
    assert plain.student.bsn == "999931696" and plain.student.leerlingnummer == "21457"
    assert plain.student.geboortedatum == date(2007, 11, 5)
    assert plain.geoorloofd is False and plain.lessons_in_day == 8 and not plain.hele_dag
    assert plain.modified_at == datetime(2025, 11, 3, 10, 5, 12, tzinfo=timezone.utc)
    # 7300388: Lesuur says 1, the double lesson covers lesuren 1 and 2 (100 minutes)
    double = got["7300388"]
    assert (double.datum, double.lesuren, double.minuten) == (date(2025, 11, 6), (1, 2), 100)
    # 7301002: authorised, cancelled lesson, kerstvakantie -> nothing at all
    assert set(got) == {"7300121", "7300388"}


@pytest.mark.parametrize("field,value", [
    ("Afspraak", {"Status": 5}), ("Afspraak", {"Status": 4}), ("Afspraak", {"Type": 6})])
def test_cancelled_and_roostervrij_lessons_produce_nothing(vendor, field, value):
    regs, _, rejections = run(vendor, dumps(minimal_export(items=[an_item(**{field: value})])))
    assert regs == [] and rejections == []


def test_holidays_weekends_and_configured_days_produce_nothing(vendor):
    items = [an_item(1, "2025-10-20T06:30:00Z", "2025-10-20T07:20:00Z"),   # herfstvakantie
             an_item(2, "2025-12-22T07:30:00Z", "2025-12-22T08:20:00Z"),   # kerstvakantie
             an_item(3, "2025-11-08T07:30:00Z", "2025-11-08T08:20:00Z"),   # Saturday
             an_item(4, "2025-11-05T07:30:00Z", "2025-11-05T08:20:00Z")]   # Wednesday
    assert [r.registratie.source_id for r in run(vendor, dumps(minimal_export(items=items)))[0]] \
        == ["4"]
    no_wednesday = vendor_for(calendars=Calendars(default=SchoolCalendar.build(
        region=None, lessons=LESSONS, school_days=["ma", "di", "do", "vr"])))
    regs = run(no_wednesday, dumps(minimal_export(items=items)))[0]
    assert [r.registratie.source_id for r in regs] == ["1", "2"]


@pytest.mark.parametrize("code,vtype", [("BV", 7), ("HV", 8), ("BV", 1), ("A", 5)])
def test_not_absence_codes_and_types_produce_nothing(vendor, code, vtype):
    item = an_item(Code=code, Verantwoordingtype=vtype)
    assert run(vendor, dumps(minimal_export(items=[item])))[0] == []


def test_authorised_items_are_kept_as_geoorloofd(vendor):
    items = [an_item(1, Code="Z", Verantwoordingtype=3, Geoorloofd=True),
             an_item(2, Code="VR", Verantwoordingtype=6, Geoorloofd=False),
             an_item(3, Code="LV", LuxeVerzuim=True)]
    got = by_id(run(vendor, dumps(minimal_export(items=items)))[0])
    assert got["1"].geoorloofd is True and got["2"].geoorloofd is True
    assert got["3"].geoorloofd is False and got["3"].luxe is True


def test_te_laat_counts_only_with_count_late(vendor):
    item = an_item(Code="L", Verantwoordingtype=2, Eind="2025-11-03T07:45:00Z")
    assert run(vendor, dumps(minimal_export(items=[item])))[0] == []
    counting = vendor_for({"count_late": True})
    (reg,) = run(counting, dumps(minimal_export(items=[item])))[0]
    assert reg.registratie.lesuren == (1,) and reg.registratie.minuten == 15


def test_deleted_item_is_a_tombstone_even_when_it_would_not_count(vendor):
    items = [an_item(1, Verwijderd=True), an_item(2, Verwijderd=True, Afspraak={"Status": 5})]
    regs = run(vendor, dumps(minimal_export(items=items)))[0]
    assert [(r.registratie.source_id, r.registratie.deleted, r.registratie.lesuren)
            for r in regs] == [("1", True, ()), ("2", True, ())]


def test_daylight_saving_switch_on_26_october(vendor):
    """08:30 local is 06:30Z in summer time and 07:30Z in winter time: both lesuur 1."""
    items = [an_item(1, "2025-10-17T06:30:00Z", "2025-10-17T07:20:00Z"),   # Fri, CEST
             an_item(2, "2025-10-27T07:30:00Z", "2025-10-27T08:20:00Z"),   # Mon, CET
             an_item(3, "2025-10-27T06:30:00Z", "2025-10-27T07:20:00Z"),   # 07:30 CET: no lesson
             an_item(4, "2025-10-16T22:30:00Z", "2025-10-16T23:20:00Z")]   # 00:30 local 17 Oct
    regs, _, rejections = run(vendor, dumps(minimal_export(items=items)))
    got = by_id(regs)
    assert got["1"].lesuren == (1,) and got["1"].datum == date(2025, 10, 17)
    assert got["2"].lesuren == (1,) and got["2"].datum == date(2025, 10, 27)
    assert {r.position: r.violations for r in rejections} == {
        "$.Items[2]": (("$.Items[2].Start", "lies outside every lesson of the lesuurindeling"),),
        "$.Items[3]": (("$.Items[3].Start", "lies outside every lesson of the lesuurindeling"),)}


def test_interval_errors_are_rejections(vendor):
    items = [an_item(1, "2025-11-03T07:30:00Z", "2025-11-03T07:30:00Z"),
             an_item(2, "2025-11-03T22:30:00Z", "2025-11-04T07:30:00Z")]
    rejections = run(vendor, dumps(minimal_export(items=items)))[2]
    assert [r.violations for r in rejections] == [
        (("$.Items[0].Eind", "must lie after Start"),),
        (("$.Items[1].Eind", "must be on the same local day as Start"),)]


def test_whole_day_from_one_item_covering_every_lesson(vendor):
    item = an_item(Start="2025-11-03T07:30:00Z", Eind="2025-11-03T14:55:00Z")
    (reg,) = run(vendor, dumps(minimal_export(items=[item])))[0]
    assert reg.registratie.hele_dag and reg.registratie.lesuren == tuple(range(1, 9))
    assert reg.registratie.minuten == 8 * 50


def test_v3_sample_dagspecificatie_is_exactly_the_unauthorised_lessons(vendor):
    """README 'Samples' (a): the report's days, merged the way the adapter merges them."""
    regs, reports, rejections = run(vendor, DEMO[0].read_bytes())
    assert not rejections
    report = next(r.melding for r in reports if r.melding.source_id == "880101")
    assert report.verzuimsoort is Verzuimsoort.V3 and report.verzuimdagen == ()
    own = [r.registratie for r in regs if r.registratie.student.bsn == report.student.bsn]
    days, used = merge_days(report, own)
    assert days == (
        Verzuimdag(date(2025, 10, 13), lesuren=(1, 2)),      # double lesson, CEST
        Verzuimdag(date(2025, 10, 14), lesuren=(3,)),
        Verzuimdag(date(2025, 10, 16), lesuren=(4,)),
        Verzuimdag(date(2025, 10, 17), hele_dag=True),       # six items, all eight lessons
        Verzuimdag(date(2025, 10, 27), lesuren=(1, 2)),      # double lesson, CET
        Verzuimdag(date(2025, 10, 28), lesuren=(3,)),
        Verzuimdag(date(2025, 10, 31), lesuren=(5,)),
    )
    assert "7400113" not in used and "7400112" not in used   # authorised; te laat
    assert not check_melding(replace(report, verzuimdagen=days), today=date(2025, 11, 10))


def test_report_record_maps_every_field(vendor):
    melding = a_melding(
        "VM-9", Verzuimsoort="LRV", Einddatum=None, ActieOndernomen=False,
        ActieGewenst="Huisbezoek Populierendreef", AlleLessenGemist=True, Toelichting="kort",
        VervolgOp=499, Locatiecode="00AA00", Verwijderd=True,
        Bijlagen=[{"Bestandsnaam": "a.pdf", "MimeType": "application/pdf", "Referentie": "r/1"}])
    (mapped,) = run(vendor, dumps(minimal_export(meldingen=[melding])))[1]
    m = mapped.melding
    assert mapped.position == "$.Meldingen[0]"
    assert (m.source_id, m.brin, m.verzuimsoort, m.begindatum, m.einddatum) == (
        "VM-9", "00AA", Verzuimsoort.LRV, date(2025, 11, 3), None)
    assert m.student.bsn == "999976011" and m.student.leerlingnummer == "1"
    assert (m.vermoedelijke_reden, m.toelichting, m.actie_ondernomen,
            m.toelichting_actie_ondernomen, m.toelichting_actie_gewenst, m.alle_lessen_gemist) == (
        "Testreden Populierendreef", "kort", False, "Gesprek", "Huisbezoek Populierendreef", True)
    assert (m.melder.naam, m.melder.emailadres, m.melder.functie, m.melder.telefoonnummer) == (
        "Testmelder Wilgenhof", "melder@school-00aa.test", "Mentor", "0201234567")
    assert m.vervolg_op == "499" and m.onderwijslocatiecode == "00AA00" and m.deleted
    assert m.bijlagen[0].referentie == "r/1"
    assert m.modified_at == datetime(2025, 11, 10, 8, tzinfo=timezone.utc)
    assert m.verzuimdagen == ()


@pytest.mark.parametrize("word,code", [("16UUR", "V3"), ("16UUR18PLUS", "V4"), ("LRV", "LRV"),
                                       ("LUXE", "L"), ("RMC18", "RMC"), ("OVERIG", "O")])
def test_verzuimsoort_words(vendor, word, code):
    (mapped,) = run(vendor, dumps(minimal_export(meldingen=[a_melding(Verzuimsoort=word)])))[1]
    assert mapped.melding.verzuimsoort.value == code


def test_missing_texts_are_left_to_the_adapter_rules(vendor):
    melding = a_melding(VermoedelijkeReden=None, Melder=None)
    (mapped,) = run(vendor, dumps(minimal_export(meldingen=[melding])))[1]
    codes = {v.code for v in check_melding(mapped.melding, today=date(2025, 11, 10))}
    assert {"VZ019", "VZ020", "VZ022"} <= codes


def test_age_neutral_plugin_passes_birth_date_and_never_switches_kind(vendor):
    """A 19-year-old with 16UUR stays V3 (the adapter's VZ007 decides); no birth date -> None."""
    leerlingen = [{"Stamnummer": "1", "Bsn": "999976011", "Geboortedatum": "2006-05-12"},
                  {"Stamnummer": "2", "Onderwijsnummer": "104760005"}]
    meldingen = [a_melding(1), a_melding(2, Stamnummer="2")]
    items = [an_item(1), an_item(2, Stamnummer="2")]
    regs, reports, _ = run(vendor, dumps(minimal_export(items, meldingen, leerlingen)))
    old, unknown = (r.melding for r in reports)
    assert old.verzuimsoort is Verzuimsoort.V3 and old.student.geboortedatum == date(2006, 5, 12)
    assert unknown.student.geboortedatum is None and unknown.student.bsn is None
    assert unknown.student.onderwijsnummer == "104760005"
    assert [r.registratie.student.geboortedatum for r in regs] == [date(2006, 5, 12), None]
    assert "VZ007" in {v.code for v in check_melding(old, today=date(2025, 11, 10))}
    assert not check_melding(unknown, today=date(2025, 11, 10))


def test_bsn_wins_over_onderwijsnummer(vendor):
    leerlingen = [{"Stamnummer": "1", "Bsn": "999976011", "Onderwijsnummer": "104760005"}]
    (reg,) = run(vendor, dumps(minimal_export([an_item()], leerlingen=leerlingen)))[0]
    assert reg.registratie.student.bsn == "999976011"
    assert reg.registratie.student.onderwijsnummer is None


@pytest.mark.parametrize("path", [EXAMPLE, *DEMO], ids=lambda p: p.name)
def test_to_duo_is_the_same_on_any_chunking(vendor, path):
    natives = list(vendor.parse(path.read_bytes(), content_type=None))
    whole = list(vendor.to_duo(natives))
    chunked = [m for i in range(0, len(natives), 3) for m in vendor.to_duo(natives[i:i + 3])]
    reversed_ = list(vendor.to_duo(natives[::-1]))[::-1]
    assert whole == chunked == reversed_
    assert whole == list(vendor_for().to_duo(natives))   # deterministic, stateless


def test_to_duo_refuses_foreign_records(vendor):
    with pytest.raises(TypeError):
        list(vendor.to_duo([("$", {})]))


def test_woongemeentecode_becomes_the_students_gemeentecode(vendor):
    """Leerlingen[].WoonGemeenteCode -> student.gemeentecode on reports and registrations
    (the adapter's regional agreements; never sent to DUO). Absent or null -> None."""
    leerlingen = [{"Stamnummer": "1", "Bsn": "999976011", "WoonGemeenteCode": "0307"},
                  {"Stamnummer": "2", "Onderwijsnummer": "104760005", "WoonGemeenteCode": None}]
    meldingen = [a_melding(1, Verzuimsoort="16UUR18PLUS"), a_melding(2, Stamnummer="2")]
    items = [an_item(1), an_item(2, Stamnummer="2")]
    regs, reports, rejections = run(vendor, dumps(minimal_export(items, meldingen, leerlingen)))
    assert not rejections
    assert [r.melding.student.gemeentecode for r in reports] == ["0307", None]
    assert [r.registratie.student.gemeentecode for r in regs] == ["0307", None]
    assert reports[0].melding.verzuimsoort is Verzuimsoort.V4


def test_a_bad_woongemeentecode_rejects_the_leerling(vendor):
    leerlingen = [{"Stamnummer": "1", "Bsn": "999976011", "WoonGemeenteCode": "307"}]
    _, _, rejections = run(vendor, dumps(minimal_export([an_item()], leerlingen=leerlingen)))
    assert ("$.Leerlingen[0].WoonGemeenteCode", "must be 4 digits") in [
        v for r in rejections for v in r.violations]
    assert "307" not in str([r.violations for r in rejections]).replace("WoonGemeenteCode", "")


def test_samples_carry_the_gemeentecode(vendor):
    regs, _, _ = run(vendor, EXAMPLE.read_bytes())
    assert {m.registratie.student.gemeentecode for m in regs} <= {"0344", "0307"}
    assert {m.registratie.student.gemeentecode for m in regs} - {None}
