"""The plugin author's kit works on the built-in canonical format (a stand-in vendor)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.vendors.canonical import CanonicalVendor
from adapter.domain import check_melding
from adapter.testing import (FakeDuo, capture_log_lines, make_melding, make_registratie,
                             map_export, registered_plugin, run_conformance, valid_bsn)

SAMPLES = Path(__file__).resolve().parents[1] / "config" / "samples" / "canonical"


class Relabelled(CanonicalVendor):
    """The canonical format under another vendor name (the built-in one is taken)."""

    name = "kit-test"


class Plugin:
    from adapter.hookspecs import hookimpl

    @hookimpl
    def adapter_register_vendors(self, register):  # type: ignore[no-untyped-def]
        register("kit-test", Relabelled())


def test_factories_make_valid_records() -> None:
    from datetime import date
    assert check_melding(make_melding(), today=date(2026, 1, 1)) == []
    assert make_registratie().lesuren == (1, 2)
    from adapter.domain import is_valid_bsn
    assert all(is_valid_bsn(valid_bsn()) for _ in range(50))


def test_fake_duo_scripts_rejections() -> None:
    from adapter.errors import DuoRejected
    duo = FakeDuo(reject={"bad": ("VZ007", "te oud")})
    assert duo.aanleveren(make_melding(), document_id="d").meldingsnummer
    with pytest.raises(DuoRejected):
        duo.aanleveren(make_melding(source_id="bad"), document_id="d2")
    assert duo.sent == [("aanleveren", "test-1"), ("aanleveren", "bad")]


def test_registered_plugin_and_log_capture() -> None:
    with registered_plugin(Plugin()) as registry:
        assert "kit-test" in registry.names()
    import structlog
    with capture_log_lines() as lines:
        structlog.get_logger("kit").info("something_logged", bsn="123456782")
    assert any("something_logged" in line for line in lines)
    assert not any("123456782" in line for line in lines)


def test_conformance_passes_for_a_good_vendor(tmp_path: Path) -> None:
    samples = [p for p in sorted(SAMPLES.glob("*.json"))
               if p.stem not in ("rod", "undecodable")]
    bad = tmp_path / "bad.json"
    good = json.loads(samples[0].read_text())
    broken = dict(good, source_id="broken", begindatum="31-02-2025")
    bad.write_text(json.dumps({"meldingen": [good, broken]}))
    report = run_conformance(Relabelled(), samples, bad_samples=[bad],
                             rod_file=SAMPLES / "rod.json")
    assert report.registered >= 3 and report.rejected_by_duo == 1
    assert report.rejections == 1 and report.events.get("registered") == report.registered


def test_conformance_catches_a_vendor_that_logs_personal_data() -> None:
    import structlog

    class Leaky(Relabelled):
        def to_duo(self, records):  # type: ignore[no-untyped-def]
            for item in super().to_duo(records):
                structlog.get_logger("leaky").info("mapped", who=item.melding.student.achternaam
                                                   if hasattr(item, "melding") else None)
                yield item

    samples = [SAMPLES / "v3-with-days.json"]
    with pytest.raises(AssertionError, match="personal value"):
        run_conformance(Leaky(), samples, simulator=False)
    assert map_export(Leaky(), samples[0].read_bytes(), "application/json")
