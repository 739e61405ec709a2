"""``status`` and ``meldingen list``: read-only views of the store, no personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter.config import Settings
from adapter.errors import AdapterError
from adapter.pki.identity import load_credentials
from adapter.store import ReportSummary, Store


def collect_status(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Backlog per state, oldest pending, last feedback watermark, certificate expiry."""
    store = Store.open(settings.store.url)
    try:
        counts = store.counts()
        oldest = store.oldest_pending()
        watermark = store.get_watermark(f"feedback:{settings.school.brin}")
    finally:
        store.close()
    info: dict[str, Any] = {"store": counts, "oldest_pending": oldest, "last_poll_watermark": watermark}
    try:
        leaf = load_credentials(settings.duo, environ=environ or {}).tls.certificate
        info["certificate_days_left"] = (leaf.not_valid_after_utc - datetime.now(UTC)).days
    except (AdapterError, OSError, ValueError):
        info["certificate_days_left"] = None
    info["duo_url"] = settings.duo.url
    return info


def render_status(info: dict[str, Any]) -> str:
    lines = ["reports:"]
    for state, n in sorted(info["store"].get("reports", {}).items()):
        lines.append(f"  {state:<12} {n}")
    lines.append("submissions:")
    for state, n in sorted(info["store"].get("submissions", {}).items()):
        lines.append(f"  {state:<12} {n}")
    outbox = info["store"].get("outbox", {})
    lines.append(f"outbox:        pending={outbox.get('pending', 0)} published={outbox.get('published', 0)}")
    lines.append(f"oldest pending: {info['oldest_pending'] or '-'}")
    lines.append(f"last poll:      {info['last_poll_watermark'] or '-'}")
    days = info["certificate_days_left"]
    lines.append(f"certificate:    {'unreadable' if days is None else f'{days} days left'}")
    lines.append(f"DUO:            {info['duo_url']}")
    return "\n".join(lines)


def render_reports(rows: list[ReportSummary]) -> str:
    header = f"{'id':>5}  {'vendor':<10} {'brin':<5} {'source id':<24} {'soort':<5} {'state':<11} {'duo':<3} meldingsnummer"
    lines = [header]
    for r in rows:
        source = r.source_id if r.source_id is not None else f"({r.origin})"
        lines.append(f"{r.report_id:>5}  {r.vendor:<10} {r.brin:<5} {source[:24]:<24} "
                     f"{r.verzuimsoort:<5} {r.state:<11} {r.duo_status or '-':<3} {r.meldingsnummer or '-'}")
    if not rows:
        lines.append("(no reports)")
    return "\n".join(lines)
