"""The adapter's conformance kit (adapter.testing.run_conformance) on the demo samples:
deterministic mapping, bad rows by position, a round trip through intake, store and
submitter to the DUO simulator over TLS, and no personal data in the logs."""

from __future__ import annotations

from pathlib import Path

from adapter.testing import run_conformance
from verzuim_eduarte.plugin import EduarteVendor

from eduarte_support import DEMO, SAMPLES

DATA = Path(__file__).resolve().parent / "data"


def test_conformance() -> None:
    report = run_conformance(EduarteVendor(), samples=DEMO,
                             bad_samples=[DATA / "corrupt-registraties.csv",
                                          DATA / "corrupt-meldingen.csv"],
                             rod_file=SAMPLES / "rod.json")
    assert report.reports == 4 and report.registraties == 18
    assert report.rejections == 6   # 3 bad rows in each corrupted file
    assert report.rejected_by_duo == 0 and report.registered >= 4  # 3 reports + the LRV amendment
    assert report.events.get("registered", 0) >= 3
