"""Configuration: validated once, one-line errors naming the key, every key documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from adapter.config import MunicipalitySettings, SchoolSettings, Settings, load_settings
from adapter.errors import ConfigError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def all_keys() -> list[str]:
    keys = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if section == "schools":  # a list of tables: [[schools]]
            model, section = SchoolSettings, "schools[]"
        if section == "municipalities":  # [[municipalities]]
            model, section = MunicipalitySettings, "municipalities[]"
        assert isinstance(model, type) and issubclass(model, BaseModel)
        keys += [f"{section}.{name}" for name in model.model_fields]
    return keys


@pytest.mark.parametrize("key", all_keys())
def test_every_key_is_documented(key: str) -> None:
    assert f"`{key}`" in DOCS.read_text(encoding="utf-8"), f"{key} missing from docs/configuration.md"


def test_documented_keys_exist() -> None:
    documented = set(re.findall(r"^\| `([a-z_\[\]]+\.[a-z_0-9]+)` \|", DOCS.read_text(), re.M))
    assert documented == set(all_keys())


def test_unknown_key_is_one_line_error_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[amqp]\nprefetchh = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "amqp.prefetchh" in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_value_names_key_not_value(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[school]\noin = "secret-looking-123456789"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "school.oin" in str(err.value)
    assert "123456789" not in str(err.value)


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[amqp]\nprefetch = 3\n")
    monkeypatch.setenv("VERZUIM_AMQP__PREFETCH", "9")
    assert load_settings(cfg).amqp.prefetch == 9


def test_settings_are_frozen_and_paths_resolved(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[duo]\nca_bundle = "pki/ca.pem"\n[store]\nurl = "sqlite:///data/x.db"\n')
    settings = load_settings(cfg)
    assert settings.duo.ca_bundle == tmp_path / "pki" / "ca.pem"
    assert settings.store.url == f"sqlite:///{tmp_path / 'data' / 'x.db'}"
    with pytest.raises(Exception):
        settings.duo.read_timeout = 1  # type: ignore[misc]


def test_plain_http_duo_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="duo.url"):
        load_settings(None, overrides={"duo": {"url": "http://127.0.0.1:8443/x"}})


def test_demo_config_is_valid() -> None:
    settings = load_settings(Path(__file__).resolve().parents[1] / "config" / "demo.toml")
    assert settings.duo.poll_interval <= 5
    # the demo school's calendar is the one the samples' dagspecificatie assumes
    assert settings.school_calendars().for_brin("00AA") == load_settings(None).school_calendars(
        ).for_brin("00AA")


def test_example_config_is_valid() -> None:
    from datetime import date
    settings = load_settings(Path(__file__).resolve().parents[1] / "config" / "example.toml")
    calendar = settings.school_calendars().for_brin("25PL")
    assert calendar.region == "zuid" and not calendar.is_school_day(date(2025, 11, 14))


# ---- the school calendar: [school] / [[schools]] region, holidays, lessons, school_days ----

SAAS = '''
[[schools]]
brin = "00AA"
oin = "00000099000000000001"
region = "noord"

[[schools]]
brin = "01BB"
oin = "00000099000000000002"
region = "zuid"
holidays = [{name = "studiedag", first = 2025-11-14}]
lessons = ["08:00-08:50", "08:50-09:40"]
school_days = ["ma", "di", "wo", "do"]
'''


def test_each_school_gets_its_own_calendar(tmp_path: Path) -> None:
    from datetime import date
    cfg = tmp_path / "c.toml"
    cfg.write_text(SAAS)
    calendars = load_settings(cfg).school_calendars()
    noord, zuid = calendars.for_brin("00AA"), calendars.for_brin("01BB")
    assert (noord.region, zuid.region) == ("noord", "zuid")
    monday = date(2025, 10, 13)   # herfstvakantie zuid, not noord
    assert noord.is_school_day(monday) and not zuid.is_school_day(monday)
    assert not zuid.is_school_day(date(2025, 11, 14)) and noord.is_school_day(date(2025, 11, 14))
    assert not zuid.is_school_day(date(2025, 11, 7))            # a Friday: no school day there
    assert (noord.lessons_in_day(monday), zuid.lessons_in_day(date(2025, 10, 20))) == (8, 2)


def test_calendar_defaults_keep_the_single_school_behaviour() -> None:
    from datetime import date
    calendar = load_settings(None).school_calendars().for_brin("00AA")
    assert calendar.region == "midden" and calendar.lessons_in_day(date(2025, 10, 6)) == 8
    assert not calendar.is_school_day(date(2025, 10, 20))


def test_region_none_uses_only_the_schools_own_days_off(tmp_path: Path) -> None:
    from datetime import date
    cfg = tmp_path / "c.toml"
    cfg.write_text('[school]\nregion = "none"\nholidays = [{name = "x", first = 2025-10-20, '
                   'last = "2025-10-21"}]\n')
    calendar = load_settings(cfg).school_calendars().for_brin("00AA")
    assert [calendar.is_school_day(date(2025, 10, d)) for d in (20, 21, 22)] == [False, False, True]


@pytest.mark.parametrize("text,key", [
    ('[school]\nregion = "oost"', "school.region:"),
    ('[school]\nlessons = ["08:30-09:15", "09:00-09:45"]', "school.lessons[1]: lesson 2 begins"),
    ('[school]\nlessons = ["09:15-08:30"]', "school.lessons[0]:"),
    ('[school]\nlessons = ["8.30-9.15"]', "school.lessons[0]:"),
    ('[school]\nlessons = []', "school.lessons:"),
    ('[school]\nlessons = [' + ", ".join(['"08:00-08:30"'] * 13) + ']', "school.lessons:"),
    ('[school]\nholidays = [["18-10-2025", "26-10-2025"]]', "school.holidays[0]:"),
    ('[school]\nholidays = [{first = "31-10-2025"}]', "school.holidays[0].first:"),
    ('[school]\nholidays = [{first = 2025-10-26, last = 2025-10-18}]', "school.holidays[0]:"),
    ('[school]\nholidays = [{first = 2025-10-26, until = 2025-10-28}]',
     "school.holidays[0].until:"),
    ('[school]\nschool_days = ["maandag"]', "school.school_days[0]:"),
    ('[school]\nschool_days = [0]', "school.school_days[0]:"),
    ('[school]\nschool_days = []', "school.school_days:"),
    (SAAS.replace('"08:50-09:40"', '"08:50-09:40", "9.40-10.30"'), "schools[1].lessons[2]:"),
    (SAAS.replace('region = "zuid"', 'region = "Zuid"'), "schools[1].region:"),
])
def test_calendar_errors_name_the_key_and_entry(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    message = str(err.value)
    assert message.startswith(f"invalid configuration: {key}"), message
    assert "\n" not in message
    for value in ("8.30", "9.40", "maandag", "oost", "31-10-2025", "18-10-2025"):
        assert value not in message



@pytest.mark.parametrize("text,key", [
    ('[[municipalities]]\ncode = "344"', "municipalities[0].code:"),
    ('[[municipalities]]\ncode = "03440"', "municipalities[0].code:"),
    ('[[municipalities]]\ncode = "GM0344"', "municipalities[0].code:"),
    ('[[municipalities]]\nv4 = false', "municipalities[0].code:"),
    ('[[municipalities]]\ncode = "0344"\nv4 = "nee"', "municipalities[0].v4:"),
    ('[[municipalities]]\ncode = "0344"\nregion = "x"', "municipalities[0].region:"),
    ('[[municipalities]]\ncode = "0344"\n[[municipalities]]\ncode = "0307"\n'
     '[[municipalities]]\ncode = "0344"\nv4 = false', "municipalities[2].code: code listed twice"),
])
def test_municipality_errors_name_the_key_and_entry(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    message = str(err.value)
    assert message.startswith(f"invalid configuration: {key}"), message
    assert "\n" not in message
    for value in ("03440", "GM0344", "nee"):
        assert value not in message


def test_municipalities_become_the_regional_agreements(tmp_path: Path) -> None:
    from adapter.domain.regions import RegionalAgreements
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[municipalities]]\ncode = "0344"\nv4 = false\n\n'
                   '[[municipalities]]\ncode = "0307"\nv4 = true\n\n'
                   '[[municipalities]]\ncode = "0363"\n')
    settings = load_settings(cfg)
    assert [m.code for m in settings.municipalities] == ["0344", "0307", "0363"]
    agreements = settings.regional_agreements()
    assert agreements == RegionalAgreements(no_v4=frozenset({"0344"}))
    with pytest.raises(Exception):
        agreements.no_v4.add("0307")  # type: ignore[attr-defined]
    assert load_settings(None).regional_agreements() == RegionalAgreements()
