"""docs/writing-plugins.md is executable: its plugin passes the conformance suite."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-plugins.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.fixture()
def tutorial(tmp_path: Path) -> object:
    plugin_code, test_code = blocks("python")
    module_path = tmp_path / "verzuim_somtoday_tutorial.py"
    module_path.write_text(plugin_code)
    spec = importlib.util.spec_from_file_location("verzuim_somtoday_tutorial", module_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module, test_code
    sys.modules.pop(spec.name, None)


def test_tutorial_plugin_passes_conformance(tutorial: tuple[object, str], tmp_path: Path) -> None:
    module, test_code = tutorial
    samples = tmp_path / "samples"
    samples.mkdir()
    [sample] = blocks("json")
    (samples / "01-export.json").write_text(sample)
    namespace: dict[str, object] = {"SomtodayVendor": module.SomtodayVendor,  # type: ignore[attr-defined]
                                    "__file__": str(samples.parent / "tests" / "test_doc.py")}
    exec(compile(test_code, "writing-plugins.md", "exec"), namespace)  # noqa: S102
    namespace["SAMPLES"] = samples
    namespace["test_conformance"]()  # type: ignore[operator]


def test_tutorial_plugin_registers_through_the_hook(tutorial: tuple[object, str]) -> None:
    from adapter.testing import registered_plugin
    module, _ = tutorial
    with registered_plugin(module, config={"somtoday": {"brin": "00AA"}}) as registry:
        vendor = registry.get("somtoday")
    [sample] = blocks("json")
    from adapter.testing import map_export
    mapped = map_export(vendor, sample.encode())
    kinds = sorted(type(m).__name__ for m in mapped)
    assert kinds == ["MappedRecord", "MappedRegistratie", "MappedRegistratie"]


def test_tutorial_plugin_takes_the_school_calendar_from_the_hook(
        tutorial: tuple[object, str]) -> None:
    """A school without lessons on Monday: the tutorial's Monday registration is dropped,
    and lessons_in_day is that school's."""
    from adapter.domain.calendar import Calendars, SchoolCalendar
    from adapter.domain.model import MappedRegistratie
    from adapter.testing import map_export, registered_plugin
    module, _ = tutorial
    calendar = SchoolCalendar.build(region="midden", school_days=[2, 3, 4, 5],
                                    lessons=[f"{h:02d}:00-{h:02d}:50" for h in range(8, 18)])
    with registered_plugin(module, config={"somtoday": {"brin": "00AA"}},
                           calendars=Calendars({"00AA": calendar})) as registry:
        vendor = registry.get("somtoday")
    [sample] = blocks("json")
    regs = [m.registratie for m in map_export(vendor, sample.encode())
            if isinstance(m, MappedRegistratie)]
    assert [(r.source_id, r.lesuren, r.lessons_in_day) for r in regs] == [
        ("SOM-2", tuple(range(1, 9)), 10)]
