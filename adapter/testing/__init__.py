"""The plugin author's kit: factories, a fake DUO, log capture and the conformance suite.

Everything a vendor plugin's own tests need, without a broker::

    from adapter.testing import run_conformance

    def test_conformance():
        run_conformance(MyVendor(), samples=sorted(SAMPLES.glob("0*.json")),
                        bad_samples=[SAMPLES / "corrupt.json"])

- :func:`make_melding`, :func:`make_registratie`, :func:`valid_bsn`: valid records
  (:mod:`adapter.testing.factories`).
- :class:`FakeDuo`: DUO in memory, implementing the whole
  :class:`~adapter.duo.port.DuoPort` with scripted outcomes, for pure-logic tests
  (:mod:`adapter.testing.fakes`).
- :func:`registered_plugin`: a vendor registry holding just your plugin, for one test;
  :func:`capture_log_lines`: every log line as the daemon would render it (JSON,
  after redaction), to assert that nothing personal leaks; :func:`map_export`;
  :func:`personal_values` (:mod:`adapter.testing.kit`).
- :func:`run_conformance`: the checks every plugin must pass
  (:mod:`adapter.testing.conformance`, ``docs/writing-plugins.md``).
"""

from adapter.testing.conformance import run_conformance
from adapter.testing.factories import make_melding, make_registratie, valid_bsn
from adapter.testing.fakes import FakeDuo, FakeReport
from adapter.testing.kit import (
                                 ConformanceReport,
                                 capture_log_lines,
                                 map_export,
                                 personal_values,
                                 registered_plugin,
)

__all__ = [
    "ConformanceReport", "FakeDuo", "FakeReport", "capture_log_lines", "make_melding",
    "make_registratie", "map_export", "personal_values", "registered_plugin",
    "run_conformance", "valid_bsn",
]
