"""Configuration: defaults, validation (ConfigError naming the key), loading through the adapter."""

from __future__ import annotations

import tomllib
from datetime import date, time

import pytest

from adapter.errors import ConfigError
from adapter.vendors import load_vendors
from verzuim_magister import plugin
from verzuim_magister.schedule import settings_from_config


def test_defaults():
    s = settings_from_config({})
    assert [(x.lesuur, x.begin, x.end) for x in s.slots[:4]] == [
        (1, time(8, 30), time(9, 20)), (2, time(9, 20), time(10, 10)),
        (3, time(10, 10), time(11, 0)), (4, time(11, 15), time(12, 5))]
    assert s.lessons_in_day == 8 and s.count_late is False
    assert not s.is_school_day(date(2025, 10, 20))      # herfstvakantie
    assert not s.is_school_day(date(2026, 1, 2))        # kerstvakantie
    assert not s.is_school_day(date(2025, 11, 1))       # Saturday
    assert s.is_school_day(date(2025, 10, 27)) and s.is_school_day(date(2026, 1, 5))


def test_toml_shapes():
    config = tomllib.loads("""
[plugins.config.magister]
lesuurindeling = {"1" = "08:00-08:45", "3" = "10:00-10:45", "2" = "08:45-09:30"}
holidays = [{naam = "herfst", van = 2025-10-18, tot = 2025-10-26}, 2025-11-14, "2025-11-17"]
school_days = ["ma", "di", "wo", "do", 5]
count_late = true
""")["plugins"]["config"]["magister"]
    s = settings_from_config(config)
    assert [x.lesuur for x in s.slots] == [1, 2, 3] and s.count_late
    assert not s.is_school_day(date(2025, 11, 14)) and not s.is_school_day(date(2025, 11, 17))
    assert s.is_school_day(date(2025, 11, 13))


@pytest.mark.parametrize("config,key", [
    ({"lesuurindeling": "08:30-09:20"}, "lesuurindeling"),
    ({"lesuurindeling": []}, "lesuurindeling"),
    ({"lesuurindeling": ["08:30-09:20", "9.20-10.10"]}, "lesuurindeling[2]"),
    ({"lesuurindeling": ["08:30-09:20", "09:10-10:00"]}, "lesuurindeling[2]"),
    ({"lesuurindeling": ["09:20-08:30"]}, "lesuurindeling[1]"),
    ({"lesuurindeling": {"13": "08:30-09:20"}}, "lesuurindeling[13]"),
    ({"lesuurindeling": {"1": "08:30-09:20", "3": "10:10-11:00"}}, "lesuurindeling"),
    ({"holidays": "herfst"}, "holidays"),
    ({"holidays": [{"van": "2025-10-26", "tot": "2025-10-18"}]}, "holidays[0].tot"),
    ({"holidays": [{"van": "31-10-2025"}]}, "holidays[0].van"),
    ({"holidays": [{"begin": "2025-10-18"}]}, "holidays[0]"),
    ({"school_days": []}, "school_days"),
    ({"school_days": ["ma", "maandag"]}, "school_days[1]"),
    ({"school_days": [0]}, "school_days[0]"),
    ({"count_late": "ja"}, "count_late"),
    ({"lesuren": []}, "lesuren"),
])
def test_invalid_config_names_the_key(config, key):
    with pytest.raises(ConfigError) as info:
        settings_from_config(config)
    assert f"magister.{key} " in str(info.value) or repr(key) in str(info.value)


def test_registered_through_the_hook_with_its_config():
    registry = load_vendors(entry_points=False, plugins=[plugin],
                            config={"magister": {"count_late": True}})
    vendor = registry.get("magister")
    assert vendor.settings.count_late is True
    assert ("magister", "0.1.0", "local") in registry.describe()
    with pytest.raises(ConfigError, match="count_late"):
        load_vendors(entry_points=False, plugins=[plugin], config={"magister": {"count_late": 1}})


def test_installed_entry_point_is_listed():
    registry = load_vendors(enabled=("magister",))
    assert ("magister", "0.1.0", "verzuim-adapter-magister") in registry.describe()
