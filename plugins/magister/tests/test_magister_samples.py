"""The demo samples tell the story of the README, and pass the adapter's conformance suite."""

from __future__ import annotations

import json
from datetime import date

from adapter.domain.identifiers import is_valid_bsn, is_valid_onderwijsnummer
from adapter.domain.rules import age_on
from adapter.testing import run_conformance
from magister_helpers import DEMO, SAMPLES, dumps, load, run, vendor_for
from test_magister_parser import corrupt

ROD = SAMPLES / "rod.json"


def test_demo_files_are_numbered_in_publish_order():
    assert [p.name for p in DEMO] == ["01-export-oktober.json", "02-export-vervolgmelding.json",
                                      "03-export-melding-te-oud.json",
                                      "04-export-intrekking.json"]


def test_demo_conventions_brin_dates_and_identifiers():
    rod = {s.get("bsn") or s.get("onderwijsnummer"): date.fromisoformat(s["geboortedatum"])
           for s in load(ROD)["students"]}
    for path in DEMO:
        doc = load(path)
        assert doc["Export"]["Brin"] == "00AA"
        for leerling in doc["Leerlingen"]:
            number = leerling["Bsn"] or leerling["Onderwijsnummer"]
            assert is_valid_bsn(number) or is_valid_onderwijsnummer(number)
            assert number in rod, "every demo student is in rod.json"
        for record in doc.get("Items", []) + doc.get("Meldingen", []):
            day = (record.get("Start") or record["Begindatum"])[:10]
            assert "2025-10-01" <= day <= "2025-11-30"


def test_a_v3_with_double_lesson_for_a_student_under_18(vendor):
    regs, reports, _ = run(vendor, DEMO[0].read_bytes())
    report = next(r.melding for r in reports if r.melding.source_id == "880101")
    assert report.verzuimsoort.value == "V3"
    assert age_on(report.student.geboortedatum, report.begindatum) < 18
    doubles = [r.registratie for r in regs if r.registratie.student.bsn == report.student.bsn
               and r.registratie.lesuren == (1, 2)]
    assert {d.datum for d in doubles} == {date(2025, 10, 13), date(2025, 10, 17),
                                          date(2025, 10, 27)}


def test_b_withdrawal_in_a_later_export(vendor):
    first = next(r.melding for r in run(vendor, DEMO[0].read_bytes())[1]
                 if r.melding.source_id == "880201")
    (later,) = [r.melding for r in run(vendor, DEMO[3].read_bytes())[1]]
    assert later.source_id == first.source_id and later.deleted and not first.deleted
    assert later.modified_at > first.modified_at


def test_c_follow_up_report_starts_the_day_after(vendor):
    first = next(r.melding for r in run(vendor, DEMO[0].read_bytes())[1]
                 if r.melding.source_id == "880301")
    (clone,) = [r.melding for r in run(vendor, DEMO[1].read_bytes())[1]]
    assert clone.vervolg_op == first.source_id
    assert (clone.begindatum - first.einddatum).days == 1
    assert clone.student == first.student
    raw = load(DEMO[1])
    assert list(raw).index("Leerlingen") > list(raw).index("Items")   # order handled


def test_d_no_birth_date_in_export_but_19_per_rod(vendor):
    (report,) = [r.melding for r in run(vendor, DEMO[2].read_bytes())[1]]
    assert report.verzuimsoort.value == "V3" and report.student.geboortedatum is None
    rod = {s.get("bsn"): date.fromisoformat(s["geboortedatum"]) for s in load(ROD)["students"]}
    assert age_on(rod[report.student.bsn], report.begindatum) == 19


def test_e_authorised_and_cancelled_items_produce_no_countable_registration(vendor):
    regs, reports, rejections = run(vendor, DEMO[0].read_bytes())
    student = [r.registratie for r in regs if r.registratie.student.onderwijsnummer]
    assert {r.source_id for r in student} == {"7400504", "7400506", "7400507"}
    assert all(r.geoorloofd for r in student)
    assert not [r for r in reports if r.melding.student.onderwijsnummer] and not rejections
    raw = [i for i in load(DEMO[0])["Items"] if i["Stamnummer"] == "40105"]
    assert len(raw) == 8


def test_conformance(tmp_path):
    """The lead engineer's suite: mapping, bad rows, the simulator round trip, no leaks."""
    bad = tmp_path / "01-corrupt.json"
    bad.write_bytes(dumps(corrupt(load(DEMO[0]))[0]))
    report = run_conformance(vendor_for(), samples=DEMO, bad_samples=[bad],
                             rod_file=ROD)
    assert report.reports == 6 and report.rejections == 4
    assert report.rejected_by_duo == 1          # 880401: 19 per ROD
    assert report.registered == 5               # 4 reports registered + 880201 withdrawn
    assert report.events.get("registered") and report.events.get("rejected")
    text = "\n".join(report.log_lines)
    for marker in ("Esdoornhof", "Lindeboom", "Beukenlaan", "999976011", "104760005"):
        assert marker not in text
    json.dumps(report.events)
