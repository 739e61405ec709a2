"""``meldingen list --json`` and ``meldingen show ID --xml``: the archive, read back.

The school's evidence is the envelopes exactly as they crossed the wire: the
signed request bytes the client posted and DUO's answer as received. They are
stored with the submission they were sent for (:data:`adapter.duo.port.current_submission`),
so a report finds every envelope of its life, oldest first.

``--xml`` writes those bytes unchanged: to standard output one after another
(each document ends where the next ``<?xml`` declaration begins; a line naming
each goes to standard error), or with ``--out DIR`` one file per envelope, which
any XML-DSig verifier checks as it is (``xmlsec1 --verify``; docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from adapter.duo.port import ExchangeRecord
from adapter.store.api import ReportSummary

__all__ = ["Envelope", "envelopes", "report_json", "write_envelopes"]

#: One stored envelope: (file name, bytes exactly as sent or received).
Envelope = tuple[str, bytes]


def report_json(summary: ReportSummary) -> dict[str, Any]:
    """A report as ``meldingen list --json`` prints it: ids, codes and times only.

    ``origin``: ``adapter`` or ``web`` (typed into DUO's web counter; no ``source_id``)."""
    return {
        "id": summary.report_id, "source_id": summary.source_id, "vendor": summary.vendor,
        "brin": summary.brin, "state": summary.state, "meldingsnummer": summary.meldingsnummer,
        "duo_status": summary.duo_status, "verzuimsoort": summary.verzuimsoort,
        "created_at": summary.created_at.isoformat(), "updated_at": summary.updated_at.isoformat(),
        "origin": summary.origin,
        # DUO's schoning: DUO no longer knows it; the adapter keeps it and its evidence
        "purged_at_duo": summary.duo_purged_at.isoformat() if summary.duo_purged_at else None,
    }


def envelopes(exchanges: Sequence[ExchangeRecord]) -> list[Envelope]:
    """Every request and (when one came) response, oldest exchange first, named
    ``<nn>-<operation>-request.xml`` / ``…-response.xml``."""
    out: list[Envelope] = []
    for n, exchange in enumerate(exchanges, start=1):
        stem = f"{n:02d}-{exchange.operation}"
        out.append((f"{stem}-request.xml", exchange.request_xml))
        if exchange.response_xml:
            out.append((f"{stem}-response.xml", exchange.response_xml))
    return out


def write_envelopes(items: Sequence[Envelope], *, out_dir: Path | None, stdout: BinaryIO,
                    note: Any) -> list[Path]:
    """Write ``items`` byte for byte; ``note(text)`` tells the operator what went where.

    With ``out_dir`` (created when missing) each envelope becomes a file and the
    paths are returned; otherwise the bytes go to ``stdout`` back to back.
    """
    written: list[Path] = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in items:
        if out_dir is None:
            note(name)
            stdout.write(data)
            if not data.endswith(b"\n"):
                stdout.write(b"\n")   # between documents only: the stored bytes stay whole
        else:
            path = out_dir / name
            path.write_bytes(data)
            written.append(path)
            note(str(path))
    stdout.flush()
    return written
