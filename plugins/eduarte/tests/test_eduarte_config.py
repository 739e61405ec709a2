"""Configuration keys of [plugins.config.eduarte]: defaults, overrides, ConfigError naming the key."""

from __future__ import annotations

from datetime import date

import pytest

from adapter.errors import ConfigError
from adapter.vendors import load_vendors
from verzuim_eduarte import plugin
from verzuim_eduarte.plugin import EduarteVendor
from verzuim_eduarte.schema import REGISTRATION_HEADER

from eduarte_support import csv_body, registraties, registratie_row, run


def test_defaults_are_the_section_6_samples() -> None:
    s = EduarteVendor().schedule
    assert [(lesson.start, lesson.end) for lesson in s.lessons][:3] == [(510, 555), (555, 600),
                                                                         (615, 660)]
    assert len(s.lessons) == 8 and s.school_days == frozenset({1, 2, 3, 4, 5})
    assert s.count_late is False
    assert not s.is_school_day(date(2025, 10, 20)) and not s.is_school_day(date(2026, 1, 2))
    assert s.is_school_day(date(2025, 10, 27)) and not s.is_school_day(date(2025, 10, 25))


def test_custom_schedule_changes_the_mapping() -> None:
    vendor = EduarteVendor({"lesuurindeling": ["08:00-09:00", "09:00-10:00"],
                            "holidays": [["06-10-2025", "06-10-2025"]],
                            "school_days": ["di", 3], "count_late": True})
    body = csv_body(REGISTRATION_HEADER, registratie_row(
        {"Begindatum": "04-10-2025", "Einddatum": "09-10-2025"}))
    regs = registraties(run(vendor, body))
    assert [(r.datum, r.lesuren, r.hele_dag, r.lessons_in_day) for r in regs] == [
        (date(2025, 10, 7), (1, 2), True, 2), (date(2025, 10, 8), (1, 2), True, 2)]


@pytest.mark.parametrize("config,key", [
    ({"lesuurindeling": "08:30-09:15"}, "lesuurindeling"),
    ({"lesuurindeling": ["08:30-09:15", "09:00-09:45"]}, "lesuurindeling[1]"),
    ({"lesuurindeling": ["09:15-08:30"]}, "lesuurindeling[0]"),
    ({"lesuurindeling": ["8.30-9.15"]}, "lesuurindeling[0]"),
    ({"lesuurindeling": ["08:00-08:30"] * 13}, "lesuurindeling"),
    ({"holidays": [["18-10-2025"]]}, "holidays[0]"),
    ({"holidays": [["31-02-2025", "01-03-2025"]]}, "holidays[0]"),
    ({"holidays": [["26-10-2025", "18-10-2025"]]}, "holidays[0]"),
    ({"school_days": ["maandag"]}, "school_days[0]"),
    ({"school_days": []}, "school_days"),
    ({"count_late": "yes"}, "count_late"),
    ({"lesuren": []}, "lesuren"),
])
def test_invalid_config_names_the_key(config: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        EduarteVendor(config)
    assert str(info.value).startswith(f"plugins.config.eduarte.{key}:")


def test_config_reaches_the_plugin_through_load_vendors() -> None:
    registry = load_vendors(entry_points=False, plugins=[plugin],
                            config={"eduarte": {"count_late": True}})
    assert registry.get("eduarte").schedule.count_late is True
    with pytest.raises(ConfigError, match="plugins.config.eduarte.school_days"):
        load_vendors(entry_points=False, plugins=[plugin],
                     config={"eduarte": {"school_days": ["xx"]}})
