"""Configuration: ``[plugins.config.magister]`` (ConfigError naming the key), the school
calendar reaching the plugin through the hook, and the installed entry point.

The calendar keys themselves (lessons, holidays, school days, region) are the adapter's
``[school]`` settings, tested in ``tests/test_config.py`` and ``tests/domain/test_calendar.py``.
"""

from __future__ import annotations

import tomllib
from datetime import date

import pytest

from adapter.config import load_settings
from adapter.domain.calendar import Calendars, SchoolCalendar
from adapter.errors import ConfigError
from adapter.vendors import load_vendors
from magister_helpers import LESSONS, an_item, dumps, minimal_export, run, vendor_for
from verzuim_magister import plugin
from verzuim_magister.plugin import MagisterVendor, count_late_from


def test_defaults():
    vendor = MagisterVendor()
    assert vendor.count_late is False
    assert isinstance(vendor.calendars, Calendars)   # the adapter's default school calendar


def test_count_late_from_toml():
    config = tomllib.loads("[plugins.config.magister]\ncount_late = true\n")
    assert count_late_from(config["plugins"]["config"]["magister"]) is True


@pytest.mark.parametrize("config,key", [
    ({"count_late": "ja"}, "count_late"),
    ({"lesuren": []}, "lesuren"),
])
def test_invalid_config_names_the_key(config, key):
    with pytest.raises(ConfigError) as info:
        MagisterVendor(config)
    assert f"magister.{key} " in str(info.value) or repr(key) in str(info.value)
    assert "ja" not in str(info.value).replace("(known", "")


@pytest.mark.parametrize("key,new", [("lesuurindeling", "lessons"), ("holidays", "holidays"),
                                     ("school_days", "school_days")])
def test_calendar_keys_of_earlier_versions_point_to_the_school(key, new):
    with pytest.raises(ConfigError, match=rf"magister\.{key} moved to .*\[school\] {new}"):
        MagisterVendor({key: []})


def test_registered_through_the_hook_with_its_config():
    registry = load_vendors(entry_points=False, plugins=[plugin],
                            config={"magister": {"count_late": True}})
    vendor = registry.get("magister")
    assert vendor.count_late is True
    assert ("magister", "0.1.0", "local") in registry.describe()
    with pytest.raises(ConfigError, match="count_late"):
        load_vendors(entry_points=False, plugins=[plugin], config={"magister": {"count_late": 1}})


def test_the_school_calendar_arrives_through_the_hook(tmp_path):
    """``[school] lessons``/``school_days`` from the adapter's file change the mapping."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[school]\nregion = "none"\nschool_days = ["ma", "di", "do", "vr"]\n'
                   'lessons = ' + str(list(LESSONS[:3])).replace("'", '"') + "\n")
    settings = load_settings(cfg)
    registry = load_vendors(entry_points=False, plugins=[plugin],
                            calendars=settings.school_calendars())
    items = [an_item(1, "2025-10-20T06:30:00Z", "2025-10-20T07:20:00Z"),   # herfst (midden)
             an_item(2, "2025-11-05T07:30:00Z", "2025-11-05T08:20:00Z"),   # a Wednesday
             an_item(3, "2025-11-03T07:30:00Z", "2025-11-03T10:00:00Z")]   # 08:30-11:00 CET
    regs = {r.registratie.source_id: r.registratie
            for r in run(registry.get("magister"), dumps(minimal_export(items=items)))[0]}
    assert set(regs) == {"1", "3"}          # no region holidays; no lessons on Wednesday
    assert (regs["3"].lesuren, regs["3"].hele_dag, regs["3"].lessons_in_day) == ((1, 2, 3), True, 3)
    assert registry.get("magister").calendars.for_brin("00AA").is_school_day(date(2025, 10, 20))


def test_each_record_uses_the_calendar_of_its_brin():
    other = SchoolCalendar.build(region="zuid", lessons=LESSONS)
    vendor = vendor_for(calendars=Calendars({"01BB": other},
                                            default=SchoolCalendar.build(region="noord",
                                                                         lessons=LESSONS)))
    item = [an_item(1, "2025-10-13T06:30:00Z", "2025-10-13T07:20:00Z")]  # zuid herfstvakantie
    doc = minimal_export(items=item)
    assert len(run(vendor, dumps(doc))[0]) == 1                       # 00AA: noord
    doc["Export"]["Brin"] = "01BB"
    assert run(vendor, dumps(doc))[0] == []                           # 01BB: zuid


def test_installed_entry_point_is_listed():
    registry = load_vendors(enabled=("magister",))
    assert ("magister", "0.1.0", "verzuim-adapter-magister") in registry.describe()
