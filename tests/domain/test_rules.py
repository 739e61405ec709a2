"""DUO's business rules: each failing case names the right field and code; valid reports pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any, Callable

import pytest

from adapter.domain import (RULES, Melder, Status, Student, Verzuimdag, Verzuimmelding,
                            Verzuimsoort, Violation, age_on, allowed_soorten, check_melding,
                            check_status_sendable, raise_for_violations)
from adapter.errors import RuleViolation

TODAY = date(2026, 11, 29)
BSN = "111222333"
ONR = "100000004"


def valid(**changes: Any) -> Verzuimmelding:
    base = Verzuimmelding(
        source_id="vz-1", brin="00AA",
        student=Student(bsn=BSN, geboortedatum=date(2010, 5, 17), achternaam="Testpersoon"),
        verzuimsoort=Verzuimsoort.V3, begindatum=date(2026, 11, 2), einddatum=date(2026, 11, 20),
        vermoedelijke_reden="Spijbelt structureel op maandag", toelichting="Korte toelichting",
        melder=Melder(naam="Mw. Q. Melder-Testpersoon", emailadres="melder@school.test"),
        actie_ondernomen=True, onderwijslocatiecode="123X456",
        verzuimdagen=(Verzuimdag(date(2026, 11, 2), hele_dag=True),
                      Verzuimdag(date(2026, 11, 3), lesuren=(1, 2, 3))),
    )
    return replace(base, **changes)


def student(**changes: Any) -> Student:
    return replace(valid().student, **changes)


def melder(**changes: Any) -> Melder:
    return replace(valid().melder, **changes)


def test_valid_report_passes() -> None:
    assert check_melding(valid(), today=TODAY) == []
    raise_for_violations(valid(), today=TODAY)


@pytest.mark.parametrize("m", [
    valid(student=Student(onderwijsnummer=ONR)),
    valid(verzuimsoort=Verzuimsoort.LRV, einddatum=None, verzuimdagen=()),
    valid(verzuimsoort=Verzuimsoort.RMC, student=student(geboortedatum=date(2005, 1, 1))),
    valid(verzuimsoort=Verzuimsoort.V4, student=student(geboortedatum=date(2008, 11, 2))),
    valid(verzuimsoort=Verzuimsoort.L, student=student(geboortedatum=date(1990, 1, 1))),
    valid(verzuimsoort=Verzuimsoort.O, einddatum=None, onderwijslocatiecode="29ZT00"),
    valid(actie_ondernomen=False, toelichting_actie_gewenst="Graag huisbezoek"),
    valid(begindatum=TODAY, einddatum=TODAY, verzuimdagen=(Verzuimdag(TODAY, hele_dag=True),)),
    valid(student=student(geboortedatum=None), verzuimsoort=Verzuimsoort.V4),
], ids=["onderwijsnummer", "lrv-open", "rmc-19", "v4-18-on-begindatum", "l-any-age",
        "o-brin6", "no-action", "today", "age-unknown"])
def test_other_valid_reports_pass(m: Verzuimmelding) -> None:
    assert check_melding(m, today=TODAY) == []


CASES: list[tuple[str, Callable[[], Verzuimmelding], str, str]] = [
    ("neither id", lambda: valid(student=student(bsn=None)), "student", "VZ001"),
    ("both ids", lambda: valid(student=student(onderwijsnummer=ONR)), "student", "VZ001"),
    ("blank bsn", lambda: valid(student=student(bsn="  ")), "student", "VZ001"),
    ("bsn 11-proef", lambda: valid(student=student(bsn="111222334")), "student.bsn", "VZ002"),
    ("bsn short", lambda: valid(student=student(bsn="11122233")), "student.bsn", "VZ002"),
    ("onr check", lambda: valid(student=Student(onderwijsnummer="100000005")),
     "student.onderwijsnummer", "VZ003"),
    ("brin", lambda: valid(brin="0AAA"), "brin", "VZ004"),
    ("brin lower", lambda: valid(brin="00aa"), "brin", "VZ004"),
    ("locatiecode", lambda: valid(onderwijslocatiecode="12-456"), "onderwijslocatiecode", "VZ005"),
    ("legacy V1", lambda: valid(verzuimsoort=Verzuimsoort.V1), "verzuimsoort", "VZ006"),
    ("legacy V2", lambda: valid(verzuimsoort=Verzuimsoort.V2), "verzuimsoort", "VZ006"),
    ("V3 at 18", lambda: valid(student=student(geboortedatum=date(2008, 11, 2))),
     "verzuimsoort", "VZ007"),
    ("LRV at 19", lambda: valid(verzuimsoort=Verzuimsoort.LRV,
                                student=student(geboortedatum=date(2007, 1, 1))),
     "verzuimsoort", "VZ007"),
    ("V4 at 17", lambda: valid(verzuimsoort=Verzuimsoort.V4,
                               student=student(geboortedatum=date(2008, 11, 3))),
     "verzuimsoort", "VZ007"),
    ("RMC at 17", lambda: valid(verzuimsoort=Verzuimsoort.RMC), "verzuimsoort", "VZ007"),
    ("RMC at 23", lambda: valid(verzuimsoort=Verzuimsoort.RMC,
                                student=student(geboortedatum=date(2003, 11, 2))),
     "verzuimsoort", "VZ007"),
    ("born later", lambda: valid(student=student(geboortedatum=date(2026, 11, 5))),
     "student.geboortedatum", "VZ008"),
    ("V3 no end", lambda: valid(einddatum=None), "einddatum", "VZ009"),
    ("V4 no end", lambda: valid(verzuimsoort=Verzuimsoort.V4, einddatum=None,
                                student=student(geboortedatum=None)), "einddatum", "VZ009"),
    ("end before begin", lambda: valid(einddatum=date(2026, 11, 1), verzuimdagen=()),
     "einddatum", "VZ010"),
    ("begin future", lambda: valid(begindatum=date(2026, 11, 30), einddatum=None,
                                   verzuimsoort=Verzuimsoort.LRV, verzuimdagen=()),
     "begindatum", "VZ011"),
    ("end future", lambda: valid(einddatum=date(2026, 11, 30)), "einddatum", "VZ012"),
    ("day before", lambda: valid(verzuimdagen=(Verzuimdag(date(2026, 11, 1), hele_dag=True),)),
     "verzuimdagen[0].datum", "VZ013"),
    ("day after end", lambda: valid(verzuimdagen=(
        Verzuimdag(date(2026, 11, 2), hele_dag=True), Verzuimdag(date(2026, 11, 21), True))),
     "verzuimdagen[1].datum", "VZ013"),
    ("day after today", lambda: valid(verzuimsoort=Verzuimsoort.LRV, einddatum=None,
                                      verzuimdagen=(Verzuimdag(date(2026, 11, 30), True),)),
     "verzuimdagen[0].datum", "VZ013"),
    ("duplicate day", lambda: valid(verzuimdagen=(
        Verzuimdag(date(2026, 11, 3), lesuren=(1,)), Verzuimdag(date(2026, 11, 3), True))),
     "verzuimdagen[1].datum", "VZ014"),
    ("both kinds", lambda: valid(verzuimdagen=(Verzuimdag(date(2026, 11, 3), True, (1,)),)),
     "verzuimdagen[0].lesuren", "VZ015"),
    ("neither kind", lambda: valid(verzuimdagen=(Verzuimdag(date(2026, 11, 3)),)),
     "verzuimdagen[0].lesuren", "VZ016"),
    ("uur 0", lambda: valid(verzuimdagen=(Verzuimdag(date(2026, 11, 3), lesuren=(0, 1)),)),
     "verzuimdagen[0].lesuren", "VZ017"),
    ("uur 13", lambda: valid(verzuimdagen=(Verzuimdag(date(2026, 11, 3), lesuren=(13,)),)),
     "verzuimdagen[0].lesuren", "VZ017"),
    ("uur twice", lambda: valid(verzuimdagen=(Verzuimdag(date(2026, 11, 3), lesuren=(2, 2)),)),
     "verzuimdagen[0].lesuren", "VZ018"),
    ("no melder naam", lambda: valid(melder=melder(naam="")), "melder.naam", "VZ019"),
    ("no email", lambda: valid(melder=melder(emailadres=" ")), "melder.emailadres", "VZ020"),
    ("bad email", lambda: valid(melder=melder(emailadres="melder.school.test")),
     "melder.emailadres", "VZ021"),
    ("email space", lambda: valid(melder=melder(emailadres="a b@school.test")),
     "melder.emailadres", "VZ021"),
    ("no reden", lambda: valid(vermoedelijke_reden=""), "vermoedelijke_reden", "VZ022"),
    ("no actie gewenst", lambda: valid(actie_ondernomen=False),
     "toelichting_actie_gewenst", "VZ023"),
    ("long reden", lambda: valid(vermoedelijke_reden="r" * 201), "vermoedelijke_reden", "VZ033"),
    ("long toelichting", lambda: valid(toelichting="t" * 101), "toelichting", "VZ032"),
    ("long voorvoegsel", lambda: valid(student=student(voorvoegsel="v" * 11)),
     "student.voorvoegsel", "VZ030"),
    ("long functie", lambda: valid(melder=melder(functie="f" * 61)), "melder.functie", "VZ031"),
    ("long naam", lambda: valid(melder=melder(naam="n" * 101)), "melder.naam", "VZ032"),
]


@pytest.mark.parametrize("make,field,code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_names_field_and_code(make: Callable[[], Verzuimmelding], field: str,
                                        code: str) -> None:
    violations = check_melding(make(), today=TODAY)
    assert Violation(field, RULES[code], code) in violations
    assert all(v.rule == RULES[v.code] for v in violations)


def test_boundary_lengths_pass() -> None:
    m = valid(vermoedelijke_reden="r" * 200, toelichting="t" * 100,
              melder=melder(naam="n" * 100, functie="f" * 60))
    assert check_melding(m, today=TODAY) == []


def test_every_rule_code_is_reachable_by_a_case() -> None:
    assert {c[3] for c in CASES} == set(RULES)


def test_violation_text_never_contains_the_value() -> None:
    secrets = {"bsn": "999999990", "reden": "Vermeulen-Testpersoon geheim",
               "naam": "Geheime Melder-Testpersoon", "mail": "geheim@@mail"}
    m = valid(student=Student(bsn=secrets["bsn"], onderwijsnummer=ONR,
                              geboortedatum=date(2026, 12, 1)),
              vermoedelijke_reden=secrets["reden"] * 20, brin="zz99",
              melder=Melder(naam=secrets["naam"] * 5, emailadres=secrets["mail"]),
              onderwijslocatiecode="HIDDEN1")
    violations = check_melding(m, today=TODAY)
    assert len(violations) >= 7
    text = repr(violations)
    for secret in [*secrets.values(), "zz99", "HIDDEN1", ONR, "2026-12-01"]:
        assert secret not in text
    with pytest.raises(RuleViolation) as err:
        raise_for_violations(m, today=TODAY, position="$.meldingen[0]")
    assert err.value.position == "$.meldingen[0]"
    assert all(s not in str(err.value) for s in secrets.values())


def test_age_on() -> None:
    assert age_on(date(2008, 11, 29), date(2026, 11, 29)) == 18
    assert age_on(date(2008, 11, 30), date(2026, 11, 29)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18
    assert age_on(date(2027, 1, 1), date(2026, 11, 29)) == -1


def test_allowed_soorten() -> None:
    S = Verzuimsoort
    assert allowed_soorten(17) == {S.V3, S.LRV, S.L, S.O}
    assert allowed_soorten(18) == allowed_soorten(22) == {S.V4, S.RMC, S.L, S.O}
    assert allowed_soorten(23) == {S.V4, S.L, S.O}
    assert not any(s.legacy for age in range(0, 40) for s in allowed_soorten(age))


def test_check_status_sendable() -> None:
    for status in Status:
        if status is Status.D:
            with pytest.raises(RuleViolation, match="status"):
                check_status_sendable(status)
        else:
            check_status_sendable(status)


def test_code_for_names_the_rules_own_code() -> None:
    from adapter.domain.rules import ADAPTER_RULES, RULES, code_for, with_codes
    assert code_for(RULES["VZ002"]) == "VZ002"
    assert code_for(ADAPTER_RULES["AD011"]) == "AD011"
    assert code_for("is not a valid timestamp") == "AD010"   # a vendor's format rule
    assert with_codes([("$.Items[0].Start", "is not a valid timestamp")]) == (
        ("$.Items[0].Start", "is not a valid timestamp", "AD010"),)


def test_adapter_codes_of_schema_and_intake_stay_below_ad020() -> None:
    from adapter.domain.rules import ADAPTER_RULES
    ours = [c for c in ADAPTER_RULES if c < "AD020"]
    assert ours == ["AD001", "AD002", "AD003", "AD004", "AD005", "AD006", "AD010", "AD011",
                    "AD012"]


def test_check_registratie() -> None:
    from adapter.domain import Registratie, check_registratie
    ok = Registratie(source_id="r", brin="00AA", student=Student(bsn="999990019"),
                     datum=date(2025, 10, 6), lesuren=(1, 2), lessons_in_day=8)
    assert check_registratie(ok) == []
    assert check_registratie(replace(ok, lesuren=(), hele_dag=True)) == []
    assert check_registratie(replace(ok, lesuren=(1, 2, 3), hele_dag=True)) == []  # as plugins do
    assert check_registratie(replace(ok, lesuren=(), deleted=True)) == []          # a tombstone

    def codes(**changes: Any) -> list[tuple[str, str]]:
        return [(v.field, v.code) for v in check_registratie(replace(ok, **changes))]

    assert codes(student=Student()) == [("student", "VZ001")]
    assert codes(student=Student(bsn="123456789")) == [("student.bsn", "VZ002")]
    assert codes(brin="0A") == [("brin", "VZ004")]
    assert codes(lesuren=()) == [("lesuren", "VZ016")]
    assert codes(lesuren=(0, 13)) == [("lesuren", "VZ017")]
    assert codes(lesuren=(2, 2)) == [("lesuren", "VZ018")]
