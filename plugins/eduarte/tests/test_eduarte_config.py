"""Configuration: ``[plugins.config.eduarte]`` (ConfigError naming the key) and the school
calendar reaching the plugin through the hook.

The calendar keys themselves (lessons, holidays, school days, region) are the adapter's
``[school]`` settings, tested in ``tests/test_config.py`` and ``tests/domain/test_calendar.py``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from adapter.config import load_settings
from adapter.domain.calendar import Calendars, Holiday, SchoolCalendar
from adapter.errors import ConfigError
from adapter.vendors import load_vendors
from verzuim_eduarte import plugin
from verzuim_eduarte.plugin import EduarteVendor
from verzuim_eduarte.schema import REGISTRATION_HEADER

from eduarte_support import csv_body, registraties, registratie_row, run


def test_defaults() -> None:
    vendor = EduarteVendor()
    assert vendor.count_late is False
    calendar = vendor.calendars.for_brin("00AA")
    assert calendar.lessons_in_day(date(2025, 10, 6)) == 8   # the §6.1 lesuurindeling
    assert not calendar.is_school_day(date(2025, 10, 20))    # herfstvakantie (midden)


def test_custom_calendar_changes_the_mapping() -> None:
    calendar = SchoolCalendar.build(
        region=None, lessons=["08:00-09:00", "09:00-10:00"], school_days=["di", 3],
        holidays=[Holiday("studiedag", date(2025, 10, 6), date(2025, 10, 6))])
    vendor = EduarteVendor({"count_late": True}, Calendars(default=calendar))
    body = csv_body(REGISTRATION_HEADER, registratie_row(
        {"Begindatum": "04-10-2025", "Einddatum": "09-10-2025"}))
    regs = registraties(run(vendor, body))
    assert [(r.datum, r.lesuren, r.hele_dag, r.lessons_in_day) for r in regs] == [
        (date(2025, 10, 7), (1, 2), True, 2), (date(2025, 10, 8), (1, 2), True, 2)]


@pytest.mark.parametrize("config,key", [
    ({"count_late": "yes"}, "count_late"),
    ({"lesuren": []}, "lesuren"),
])
def test_invalid_config_names_the_key(config: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        EduarteVendor(config)
    assert str(info.value).startswith(f"plugins.config.eduarte.{key}:")
    assert "yes" not in str(info.value)


@pytest.mark.parametrize("key,new", [("lesuurindeling", "lessons"), ("holidays", "holidays"),
                                     ("school_days", "school_days")])
def test_calendar_keys_of_earlier_versions_point_to_the_school(key: str, new: str) -> None:
    with pytest.raises(ConfigError) as info:
        EduarteVendor({key: []})
    assert str(info.value) == (f"plugins.config.eduarte.{key}: moved to the school calendar, "
                               f"[school] {new} (docs/configuration.md)")


def test_config_reaches_the_plugin_through_load_vendors() -> None:
    registry = load_vendors(entry_points=False, plugins=[plugin],
                            config={"eduarte": {"count_late": True}})
    assert registry.get("eduarte").count_late is True
    with pytest.raises(ConfigError, match="plugins.config.eduarte.count_late"):
        load_vendors(entry_points=False, plugins=[plugin],
                     config={"eduarte": {"count_late": "xx"}})


def test_the_school_calendar_arrives_through_the_hook(tmp_path: Path) -> None:
    """``[school]`` of the adapter's file: a studiedag and a four-lesson day."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[school]\nregion = "noord"\n'
                   'holidays = [{name = "studiedag", first = 2025-10-07}]\n'
                   'lessons = ["08:30-09:15", "09:15-10:00", "10:15-11:00", "11:00-11:45"]\n')
    registry = load_vendors(entry_points=False, plugins=[plugin],
                            calendars=load_settings(cfg).school_calendars())
    body = csv_body(REGISTRATION_HEADER, registratie_row(
        {"Begindatum": "06-10-2025", "Einddatum": "08-10-2025"}))
    regs = registraties(run(registry.get("eduarte"), body))
    assert [(r.datum.day, r.lesuren, r.hele_dag, r.lessons_in_day) for r in regs] == [
        (6, (1, 2, 3, 4), True, 4), (8, (1, 2, 3, 4), True, 4)]
