"""The simulator's rules against what it holds, over real TLS: follow-ups, wijzigen, one open
report, the mutation stamp (both settings of ``require_stamp``), the student registry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from adapter.duo import contract as c
from adapter.simulator.server import SimulatorServer

from .conftest import (TODAY, Answer, Raw, aanlevering_body, control, fixed_today,
                       intrekking_body, post, valid_bsn, wijziging_body)

BSN = valid_bsn(100)
OTHER = valid_bsn(101)


def send(sim: SimulatorServer, pki_dir: Path, operation: str, body: str) -> Answer:
    answer = post(sim, pki_dir, Raw(operation=operation, body=body))
    assert answer.status == 200, answer.text[:400]
    return answer


def register(sim: SimulatorServer, pki_dir: Path, **melding: Any) -> Answer:
    answer = send(sim, pki_dir, c.AANLEVEREN, aanlevering_body(**melding))
    assert answer.codes == [], answer.codes
    return answer


def refused(answer: Answer, code: str) -> None:
    assert answer.find("leveringGoedgekeurd") == "false"
    assert answer.codes == [code]


@pytest.fixture(params=[False, True], ids=["stamp-optional", "stamp-required"])
def sim(request: pytest.FixtureRequest, pki_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today,
                         require_stamp=request.param) as server:
        yield server


# ---- follow-ups ------------------------------------------------------------------------

def test_follow_up_must_name_a_report_issued_to_the_same_school_and_student(
        sim: SimulatorServer, pki_dir: Path) -> None:
    first_begin, later = TODAY - timedelta(days=40), TODAY - timedelta(days=10)
    nummer = register(sim, pki_dir, bsn=BSN, soort="V3", begin=first_begin,
                      eind=first_begin + timedelta(days=14)).find("meldingsnummer")
    for vervolg, kwargs in (("999999", {}),                 # never issued
                            (nummer, {"bsn": OTHER}),       # another student's report
                            (nummer, {"brin": "22CC"})):    # another school
        values = {"bsn": BSN, "soort": "V3", "begin": later, "eind": later + timedelta(days=3),
                  **kwargs}
        refused(send(sim, pki_dir, c.AANLEVEREN,
                     aanlevering_body(vervolg=vervolg, **values)), "VZ905")
    answer = register(sim, pki_dir, bsn=BSN, soort="V3", begin=later,
                      eind=later + timedelta(days=3), vervolg=nummer)
    assert answer.find("status") == "R"
    held = {m["meldingsnummer"]: m for m in control(sim, "meldingen")}
    assert held[answer.find("meldingsnummer")]["melding"]["vervolg_op"] == nummer


# ---- wijzigen ---------------------------------------------------------------------------

@pytest.mark.parametrize("change", [{"bsn": OTHER}, {"soort": "L"},
                                    {"begin": TODAY - timedelta(days=6)}],
                         ids=["student", "verzuimsoort", "begindatum"])
def test_wijzigen_may_not_change_student_soort_or_begindatum(
        change: dict, sim: SimulatorServer, pki_dir: Path) -> None:
    first = register(sim, pki_dir, bsn=BSN)
    nummer, stamp = first.find("meldingsnummer"), first.find("datumTijdLaatsteMutatie")
    values = {"bsn": BSN, **change}
    refused(send(sim, pki_dir, c.WIJZIGEN, wijziging_body(nummer, stamp=stamp, **values)),
            "VZ906")
    [held] = control(sim, "meldingen")
    assert held["melding"]["student"]["bsn"] == BSN and held["verzuimsoort"] == "O"
    # What may change does: the einddatum.
    changed = send(sim, pki_dir, c.WIJZIGEN, wijziging_body(
        nummer, stamp=stamp, bsn=BSN, eind=TODAY - timedelta(days=1)))
    assert changed.codes == []


# ---- one open report per student, soort and period ----------------------------------------

def test_one_open_report_per_student_soort_and_period(sim: SimulatorServer,
                                                      pki_dir: Path) -> None:
    begin = TODAY - timedelta(days=20)
    first = register(sim, pki_dir, bsn=BSN, soort="V3", begin=begin,
                     eind=begin + timedelta(days=10))
    # Overlapping period, same student and soort: refused, nothing registered.
    refused(send(sim, pki_dir, c.AANLEVEREN, aanlevering_body(
        bsn=BSN, soort="V3", begin=begin + timedelta(days=5), eind=begin + timedelta(days=12))),
        "VZ907")
    assert len(control(sim, "ledger")) == 1
    # Another soort, another period, another student, another school: each accepted.
    register(sim, pki_dir, bsn=BSN, soort="L", begin=begin, eind=begin + timedelta(days=2))
    register(sim, pki_dir, bsn=BSN, soort="V3", begin=begin + timedelta(days=11),
             eind=begin + timedelta(days=13))
    register(sim, pki_dir, bsn=OTHER, soort="V3", begin=begin, eind=begin + timedelta(days=10))
    register(sim, pki_dir, bsn=BSN, soort="V3", begin=begin, eind=begin + timedelta(days=10),
             brin="11BB")
    # An open-ended report (LRV without einddatum) overlaps everything after its start.
    register(sim, pki_dir, bsn=OTHER, soort="LRV", begin=begin)
    refused(send(sim, pki_dir, c.AANLEVEREN, aanlevering_body(
        bsn=OTHER, soort="LRV", begin=TODAY - timedelta(days=2))), "VZ907")
    # Once the first is withdrawn, its period is free again.
    withdraw = send(sim, pki_dir, c.INTREKKEN, intrekking_body(
        first.find("meldingsnummer"), stamp=first.find("datumTijdLaatsteMutatie")))
    assert withdraw.find("status") == "I"
    register(sim, pki_dir, bsn=BSN, soort="V3", begin=begin + timedelta(days=5),
             eind=begin + timedelta(days=10))


def test_wijzigen_into_an_overlap_with_another_open_report_is_refused(
        sim: SimulatorServer, pki_dir: Path) -> None:
    begin = TODAY - timedelta(days=20)
    register(sim, pki_dir, bsn=BSN, soort="V3", begin=begin + timedelta(days=8),
             eind=begin + timedelta(days=10))
    earlier = register(sim, pki_dir, bsn=BSN, soort="V3", begin=begin,
                       eind=begin + timedelta(days=5))
    nummer, stamp = earlier.find("meldingsnummer"), earlier.find("datumTijdLaatsteMutatie")
    # Stretching the earlier one into the later one's period: refused …
    refused(send(sim, pki_dir, c.WIJZIGEN, wijziging_body(
        nummer, stamp=stamp, bsn=BSN, soort="V3", begin=begin,
        eind=begin + timedelta(days=9))), "VZ907")
    # … changing its own period otherwise is fine (a report does not overlap itself).
    assert send(sim, pki_dir, c.WIJZIGEN, wijziging_body(
        nummer, stamp=stamp, bsn=BSN, soort="V3", begin=begin,
        eind=begin + timedelta(days=7))).codes == []


# ---- the mutation stamp ---------------------------------------------------------------------

def test_wijzigen_and_intrekken_and_the_stamp(sim: SimulatorServer, pki_dir: Path) -> None:
    required = sim.require_stamp
    first = register(sim, pki_dir, bsn=BSN)
    nummer, stamp = first.find("meldingsnummer"), first.find("datumTijdLaatsteMutatie")
    eind = TODAY - timedelta(days=1)

    without = send(sim, pki_dir, c.WIJZIGEN, wijziging_body(nummer, bsn=BSN, eind=eind))
    if required:
        refused(without, "VZ904")
        changed = send(sim, pki_dir, c.WIJZIGEN,
                       wijziging_body(nummer, stamp=stamp, bsn=BSN, eind=eind))
        assert changed.codes == []
    else:
        assert without.codes == []
        changed = without
    current = changed.find("datumTijdLaatsteMutatie")
    assert current != stamp
    # The old stamp is stale, whatever the setting: the report changed meanwhile.
    refused(send(sim, pki_dir, c.WIJZIGEN, wijziging_body(nummer, stamp=stamp, bsn=BSN)),
            "VZ903")
    refused(send(sim, pki_dir, c.INTREKKEN, intrekking_body(nummer, stamp=stamp)), "VZ903")

    bare = send(sim, pki_dir, c.INTREKKEN, intrekking_body(nummer))
    if required:
        refused(bare, "VZ904")
        bare = send(sim, pki_dir, c.INTREKKEN, intrekking_body(nummer, stamp=current))
    assert bare.codes == [] and bare.find("status") == "I"
    refused(send(sim, pki_dir, c.INTREKKEN, intrekking_body(nummer)),
            "VZ902")                                     # closed now, stamp or not


def test_require_stamp_is_on_by_default(pki_dir: Path) -> None:
    # The client sends the stamp on every wijzigen and intrekken (issue 8 item 2).
    assert SimulatorServer(pki_dir, port=0, control_port=0).require_stamp is True
    assert SimulatorServer(pki_dir, port=0, control_port=0,
                           require_stamp=False).operations.require_stamp is False


# ---- the student registry -------------------------------------------------------------------

def test_students_unknown_in_a_loaded_rod_are_refused(sim: SimulatorServer,
                                                      pki_dir: Path) -> None:
    register(sim, pki_dir, bsn=BSN)                     # no ROD loaded: not checked
    control(sim, "rod", {"students": [{"bsn": OTHER, "geboortedatum": "2010-01-01"}]})
    answer = send(sim, pki_dir, c.AANLEVEREN, aanlevering_body(bsn=valid_bsn(102)))
    refused(answer, "VZ908")
    assert valid_bsn(102).encode() not in answer.text
    register(sim, pki_dir, bsn=OTHER)
    # A wijziging of a report whose student the registry does not know: refused too.
    first = control(sim, "meldingen")[0]
    refused(send(sim, pki_dir, c.WIJZIGEN, wijziging_body(
        first["meldingsnummer"], stamp=_wire_stamp(sim, first["meldingsnummer"]), bsn=BSN)),
        "VZ908")


def _wire_stamp(sim: SimulatorServer, nummer: str) -> str:
    """The report's current stamp as it travels (UTC, milliseconds, ``Z``)."""
    [held] = [m for m in control(sim, "meldingen") if m["meldingsnummer"] == nummer]
    moment = datetime.fromisoformat(held["laatste_mutatie"]).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.mark.parametrize("args, expected", [([], True), (["--require-stamp"], True),
                                           (["--no-require-stamp"], False)])
def test_cli_passes_the_stamp_policy(args: list[str], expected: bool, pki_dir: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import adapter.logging
    import adapter.simulator.server as server
    from adapter.cli import cli
    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "serve", lambda pki, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(adapter.logging, "configure_logging", lambda *a, **k: None)
    result = CliRunner().invoke(cli, ["simulator", "--pki", str(pki_dir), *args])
    assert result.exit_code == 0, result.output
    assert seen["require_stamp"] is expected


# ---- opvragen by the document id of any processed mutation ------------------------------

def _opvragen_by_mutation(sim: SimulatorServer, pki_dir: Path, doc_id: str,
                          brin: str = "00AA") -> Answer:
    return send(sim, pki_dir, c.OPVRAGEN, f"""<vz:opvragenVerzuimmelding_Request xmlns:vz="{c.SCHEMA_NS}">
  <vz:identificatiecodeBedrijfsdocument>{uuid.uuid4()}</vz:identificatiecodeBedrijfsdocument>
  <vz:verzendendeInstantie>{brin}</vz:verzendendeInstantie>
  <vz:ontvangendeInstantie>DUO</vz:ontvangendeInstantie>
  <vz:datumTijdBedrijfsdocument>2025-03-10T09:15:00.000Z</vz:datumTijdBedrijfsdocument>
  <vz:brin>{brin}</vz:brin>
  <vz:identificatiecodeBedrijfsdocumentMutatie>{doc_id}</vz:identificatiecodeBedrijfsdocumentMutatie>
</vz:opvragenVerzuimmelding_Request>""")


def test_opvragen_finds_a_report_by_any_processed_mutations_document_id(
        sim: SimulatorServer, pki_dir: Path) -> None:
    ids = {name: str(uuid.uuid4()) for name in ("aanleveren", "wijzigen", "refused",
                                                  "intrekken")}
    first = register(sim, pki_dir, bsn=BSN, doc_id=ids["aanleveren"])
    nummer, stamp = first.find("meldingsnummer"), first.find("datumTijdLaatsteMutatie")
    changed = send(sim, pki_dir, c.WIJZIGEN, wijziging_body(
        nummer, stamp=stamp, bsn=BSN, eind=TODAY - timedelta(days=1), doc_id=ids["wijzigen"]))
    assert changed.codes == []
    refused(send(sim, pki_dir, c.INTREKKEN, intrekking_body(   # stale: not processed
        nummer, stamp=stamp, doc_id=ids["refused"])), "VZ903")
    assert send(sim, pki_dir, c.INTREKKEN, intrekking_body(
        nummer, stamp=changed.find("datumTijdLaatsteMutatie"),
        doc_id=ids["intrekken"])).codes == []
    for name in ("aanleveren", "wijzigen", "intrekken"):
        found = _opvragen_by_mutation(sim, pki_dir, ids[name])
        assert found.find("meldingsnummer") == nummer, name
        assert found.find("status") == "I"                       # the report as it is now
        assert found.find("identificatiecodeBedrijfsdocumentAanlevering") == ids["aanleveren"]
    assert _opvragen_by_mutation(sim, pki_dir, ids["refused"]).find("meldingsnummer") is None
    assert _opvragen_by_mutation(sim, pki_dir, str(uuid.uuid4())).find("meldingsnummer") is None
    # Another school does not see it.
    assert _opvragen_by_mutation(sim, pki_dir, ids["wijzigen"],
                                 brin="11BB").find("meldingsnummer") is None
