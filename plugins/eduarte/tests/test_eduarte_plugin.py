"""The installed distribution: entry point, Vendor protocol, `plugins` command, no data in logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import structlog

from adapter.domain.model import OutboundEvent
from adapter.hookspecs import Vendor
from adapter.vendors import load_vendors
from verzuim_eduarte import __version__
from verzuim_eduarte.plugin import EduarteVendor

from eduarte_support import DEMO, EXAMPLE, run

ROOT = Path(__file__).resolve().parents[3]


def test_entry_point_registers_the_vendor() -> None:
    registry = load_vendors(enabled=("eduarte",))
    vendor = registry.get("eduarte")
    assert isinstance(vendor, EduarteVendor) and isinstance(vendor, Vendor)
    assert ("eduarte", __version__, "verzuim-adapter-eduarte") in registry.describe()


def test_plugins_command_lists_it() -> None:
    out = subprocess.run([sys.executable, "-m", "adapter", "plugins"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert any(line.split()[:3] == ["eduarte", "0.1.0", "verzuim-adapter-eduarte"]
               for line in out.stdout.splitlines())


def test_no_personal_data_reaches_the_logs(vendor) -> None:
    """Parse, map and render every sample (plus a broken copy) and check what was logged."""
    broken = EXAMPLE.read_bytes().replace(b"06-10-2025;08:30", b"31-02-2025;08:30")
    with structlog.testing.capture_logs() as logs:
        for body in [p.read_bytes() for p in DEMO] + [EXAMPLE.read_bytes(), broken]:
            run(vendor, body)
        vendor.from_duo(OutboundEvent("m", "eduarte", "00AA", "terugmelding", "VM-2025-0101",
                                      {"behandelaar": {"naam": "Wessel Grutto-Leerplicht"}}))
    text = repr(logs)
    for secret in ("999973113", "107310023", "Zwaluw", "Kievit", "Wielewaal", "Grutto",
                   "verslapen", "12-05-2009", "2009-05-12", "731201"):
        assert secret not in text
