"""Regional agreements: what the municipalities of a region agreed to receive.

DUO takes V4 reports (16 hours in 4 weeks, student 18 or over) but they are
optional: the municipalities of a region agree whether they want them. The
school configures the municipalities it knows (``[[municipalities]]``, by CBS
gemeentecode) and the adapter holds a V4 report for a student living in a
municipality that does not want them, instead of sending it. A municipality
that is not configured, or a student without ``gemeentecode``, gets every
report as usual.

Pure data, no I/O; built once from the configuration
(:meth:`adapter.config.Settings.regional_agreements`).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.domain.model import Verzuimmelding, Verzuimsoort

SIGNAAL = "regionale_afspraak"


@dataclass(frozen=True)
class RegionalAgreements:
    """The configured municipalities' agreements. ``no_v4``: codes that want no V4 reports."""

    no_v4: frozenset[str] = frozenset()

    def may_hold(self, melding: Verzuimmelding) -> bool:
        """Whether any agreement could hold ``melding``: a V4 report, not a withdrawal."""
        return (bool(self.no_v4) and not melding.deleted
                and melding.verzuimsoort is Verzuimsoort.V4)

    def held_by(self, melding: Verzuimmelding, *, gemeentecode: str | None = None
                ) -> str | None:
        """The gemeentecode whose agreement holds ``melding`` back, or None to send it.

        Only a V4 report is ever held, and never a withdrawal (``deleted``). The
        report's own ``student.gemeentecode`` counts; ``gemeentecode`` stands in
        when it has none (the store passes the one its student's registrations carry).
        """
        code = melding.student.gemeentecode or gemeentecode
        if not self.may_hold(melding) or not code:
            return None
        return code if code in self.no_v4 else None


#: No agreements: every report is sent (the default, and what tests without config use).
NONE = RegionalAgreements()


def reden(gemeentecode: str) -> str:
    """The ``reden`` of a ``regionale_afspraak`` signal: a fixed phrase and the code."""
    return f"gemeente {gemeentecode} wil geen V4-meldingen (regionale afspraak)"
