"""``status`` and ``meldingen list``: read-only views of the store, no personal data.

``status`` answers "is it working, and what is waiting?" for a person (a table) or
a monitor (``--json``): reports and submissions per state, the oldest pending and
its age, DUO (a quick TLS handshake with the configured URL, the last exchange and
the last one that went wrong), the last feedback poll and its lag, the
certificate's days left, the dead-letter queue's depth (a passive declare; "unknown"
when the broker does not answer) and the open signals. ``--offline`` skips the two
network checks.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from adapter.config import Settings
from adapter.errors import AdapterError
from adapter.pki.identity import load_credentials
from adapter.store import ReportSummary
from adapter.store.keys import open_store

__all__ = ["check_duo", "collect_status", "dead_letter_count", "render_reports",
           "render_status"]

#: Seconds the TLS handshake with DUO and the broker's answer may take.
CHECK_TIMEOUT = 3.0


def _age(then: datetime | None, now: datetime) -> int | None:
    return None if then is None else max(0, int((now - then).total_seconds()))


def check_duo(settings: Settings, *, timeout: float = CHECK_TIMEOUT) -> dict[str, Any]:
    """A TLS handshake with ``duo.url`` (server checked against ``duo.ca_bundle``, our
    client certificate offered when its key is readable without a passphrase).
    ``reachable`` True/False and a one-line ``detail`` (error class, never data)."""
    parts = urlsplit(settings.duo.url)
    host, port = parts.hostname or "", parts.port or 443
    try:
        context = ssl.create_default_context(cafile=str(settings.duo.ca_bundle)
                                             if settings.duo.ca_bundle else None)
    except (OSError, ssl.SSLError) as exc:
        return {"reachable": None, "detail": f"duo.ca_bundle unreadable ({type(exc).__name__})"}
    if settings.duo.client_key is not None:
        try:
            context.load_cert_chain(str(settings.duo.client_cert), str(settings.duo.client_key),
                                    password=lambda: b"")
        except (OSError, ssl.SSLError, ValueError):
            pass   # encrypted or unreadable: try without (the server may then refuse)
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock, \
                context.wrap_socket(sock, server_hostname=host) as tls:
            version = tls.version()
    except (OSError, ssl.SSLError, ValueError) as exc:
        return {"reachable": False, "detail": f"{host}:{port}: {type(exc).__name__}"}
    ms = int((time.monotonic() - started) * 1000)
    return {"reachable": True, "detail": f"TLS handshake ok ({version}, {ms} ms)"}


def dead_letter_count(settings: Settings) -> int | None:
    """Messages in the dead-letter queue, or None when the broker does not answer."""
    try:
        import pika.exceptions

        from adapter.sis.connection import connection_parameters
        from adapter.sis.deadletter import dead_letter_depth
        params = connection_parameters(settings.amqp, name="verzuim-adapter status")
        return dead_letter_depth(settings.amqp, params)
    except (pika.exceptions.AMQPError, OSError, AdapterError):
        return None


def _certificate_days(settings: Settings, environ: Mapping[str, str]) -> int | None:
    try:
        leaf = load_credentials(settings.duo, environ=environ).tls.certificate
    except (AdapterError, OSError, ValueError):
        try:
            from adapter.pki.certs import load_pem_chain
            leaf = load_pem_chain(settings.duo.client_cert)[0]
        except (AdapterError, OSError, ValueError):
            return None
    return (leaf.not_valid_after_utc - datetime.now(UTC)).days


def collect_status(settings: Settings, environ: Mapping[str, str] | None = None, *,
                   offline: bool = False, now: datetime | None = None) -> dict[str, Any]:
    """Everything ``status`` shows, as JSON-ready values (times ISO 8601 by the caller)."""
    at = now or datetime.now(UTC)
    store = open_store(settings.store, environ or {})
    try:
        counts = store.counts()
        oldest = store.oldest_pending()
        watermark = store.get_watermark(f"feedback:{settings.school.brin}")
        marks = store.watermarks("feedback:")
        activity = store.duo_activity()
        signal_counts = store.signal_counts()
    finally:
        store.close()
    open_signals: dict[str, int] = {}
    for (kind, state), n in sorted(signal_counts.items()):
        if state == "open":
            open_signals[kind] = n
    last_poll = activity["last_poll"]
    info: dict[str, Any] = {
        "store": counts,
        "oldest_pending": oldest,
        "oldest_pending_age_seconds": _age(oldest, at),
        "last_poll_watermark": watermark,
        "last_poll": None if last_poll is None else {
            "at": last_poll["started_at"], "outcome": last_poll["outcome"],
            "lag_seconds": _age(last_poll["started_at"], at)},
        "watermarks": {name.split(":", 1)[1]: {"value": value, "lag_seconds": _age(value, at)}
                       for name, value in marks.items()},
        "certificate_days_left": _certificate_days(settings, environ or {}),
        "duo_url": settings.duo.url,
        "duo": {
            "url": settings.duo.url,
            **({"reachable": None, "detail": "not checked (--offline)"} if offline
               else check_duo(settings)),
            "last_exchange": activity["last_exchange"],
            "last_error": activity["last_error"],
        },
        "dead_letters": None if offline else dead_letter_count(settings),
        "dead_queue": settings.amqp.dead_queue,
        "signals_open": open_signals,
    }
    return info


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else "-"


def _exchange(item: Mapping[str, Any] | None) -> str:
    if item is None:
        return "-"
    status = f" HTTP {item['http_status']}" if item.get("http_status") is not None else ""
    return f"{item['outcome']}{status} ({item['operation']}, {_when(item['started_at'])})"


def render_status(info: Mapping[str, Any]) -> str:
    """The status as a table for a person."""
    store = info["store"]
    states = sorted(set(store.get("reports", {})) | set(store.get("submissions", {})))
    lines = [f"{'state':<12} {'reports':>8} {'submissions':>12}"]
    for state in states:
        lines.append(f"{state:<12} {store.get('reports', {}).get(state, 0):>8} "
                     f"{store.get('submissions', {}).get(state, 0):>12}")
    if not states:
        lines.append("(no reports)")
    outbox = store.get("outbox", {})
    duo = info["duo"]
    reach = {True: "reachable", False: "UNREACHABLE", None: "not checked"}[duo["reachable"]]
    days = info["certificate_days_left"]
    dead = info["dead_letters"]
    poll = info["last_poll"]
    lines += [
        "",
        f"{'outbox':<16} pending={outbox.get('pending', 0)} published={outbox.get('published', 0)}",
        f"{'oldest pending':<16} {_when(info['oldest_pending'])}"
        + (f" ({_duration(info['oldest_pending_age_seconds'])} ago)"
           if info["oldest_pending"] else ""),
        f"{'DUO':<16} {duo['url']}: {reach} - {duo['detail']}",
        f"{'last exchange':<16} {_exchange(duo['last_exchange'])}",
        f"{'last error':<16} {_exchange(duo['last_error'])}",
        f"{'last poll':<16} "
        + ("-" if poll is None else
           f"{_when(poll['at'])} ({_duration(poll['lag_seconds'])} ago, {poll['outcome']})"),
    ]
    for brin, mark in info["watermarks"].items():
        lines.append(f"{'watermark ' + brin:<16} {_when(mark['value'])} "
                     f"(lag {_duration(mark['lag_seconds'])})")
    lines += [
        f"{'certificate':<16} {'unreadable' if days is None else f'{days} days left'}",
        f"{'dead letters':<16} {'unknown' if dead is None else dead} ({info['dead_queue']})",
        f"{'open signals':<16} "
        + (", ".join(f"{kind} {n}" for kind, n in info["signals_open"].items()) or "none"),
    ]
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
