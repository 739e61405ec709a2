"""``replay``: resend failed submissions, or dead letters after a plugin fix.

``--state failed`` (the default) lists each failed submission with its original
failure (the class of its last exchange, its HTTP status, the reason, the last
attempt and the attempt count), asks, and moves the confirmed ones back to
``pending`` (:mod:`adapter.store.replay`): the daemon sends them again with
their own business-document id, so DUO can never get a report twice (a
submission it did process is answered "duplicate" and reconciled).

``--state dead`` does the same for the dead-letter queue: each message goes
back to the SIS exchange with its original routing key, ``message_id``,
headers and body. The inbox deduplicates by ``message_id``, but a dead-lettered
message was never committed (the intake commits or dead-letters, never both),
so its id is not in the inbox and it is processed afresh: accepted when the
cause is gone (the vendor plugin installed or fixed), dead-lettered again
otherwise.

Nothing here prints personal data: ids, states, codes, reasons and times only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pika.exceptions

from adapter.config import Settings
from adapter.errors import AdapterError, TransientError
from adapter.sis.connection import connection_parameters, redact_url
from adapter.sis.deadletter import DeadLetter, list_dead_letters, replay_dead_letters
from adapter.store.keys import open_store
from adapter.store.replay import ReplayCandidate

__all__ = ["ReplayReport", "render_candidates", "render_dead", "replay_dead", "replay_failed"]

#: Asked before anything is resent: the text shown, True to go on.
Confirm = Callable[[str], bool]


@dataclass
class ReplayReport:
    """What a replay did: lines for the operator (each also handed to ``echo`` as it
    is made, so the listing is on screen before the question) and counts."""

    echo: Callable[[str], None] = field(default=lambda _line: None, repr=False)
    lines: list[str] = field(default_factory=list)
    resent: int = 0
    skipped: int = 0
    declined: bool = False

    def say(self, line: str) -> None:
        self.lines.append(line)
        self.echo(line)


def _ago(when: datetime) -> str:
    seconds = int((datetime.now(UTC) - when).total_seconds())
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def render_candidates(rows: list[ReplayCandidate]) -> str:
    """The failed submissions as a table: what failed, how, when, how often."""
    lines = [f"{'report':>6} {'sub':>5}  {'operation':<10} {'document id':<36} {'class':<12} "
             f"{'code':<4} {'attempts':>8}  last attempt  reason"]
    for r in rows:
        lines.append(
            f"{r.report_id:>6} {r.submission_id:>5}  {r.operation:<10} {r.document_id:<36} "
            f"{(r.failure_class or '-')[:12]:<12} {r.code if r.code is not None else '-'!s:<4} "
            f"{r.attempts:>8}  {r.last_attempt_at:%Y-%m-%d %H:%M} ({_ago(r.last_attempt_at)})  "
            f"{r.last_error or '-'}")
    return "\n".join(lines)


def replay_failed(settings: Settings, *, report_id: int | None, confirm: Confirm,
                  echo: Callable[[str], None] | None = None,
                  environ: Mapping[str, str] | None = None) -> ReplayReport:
    """Show the failed submissions (of ``report_id``, or all), ask, move them to pending."""
    out = ReplayReport(echo) if echo is not None else ReplayReport()
    store = open_store(settings.store, environ or {})
    try:
        rows = store.failed_submissions(report_id=report_id)
        if not rows:
            out.say("replay: no failed submissions"
                             + (f" for report {report_id}" if report_id is not None else ""))
            return out
        out.say(render_candidates(rows))
        if not confirm(f"Resend {len(rows)} failed submission(s) with their own document id?"):
            out.declined = True
            out.say("replay: nothing resent")
            return out
        for row in rows:
            done = store.replay_submission(row.submission_id)
            if done.result == "replayed":
                out.resent += 1
                out.say(f"report {row.report_id}: submission {row.submission_id} "
                                 f"({row.operation}, document id {row.document_id}) back to "
                                 "pending; the daemon sends it")
            else:
                out.skipped += 1
                out.say(f"report {row.report_id}: submission {row.submission_id} "
                                 f"skipped: {done.reason}")
    finally:
        store.close()
    out.say(f"replay: {out.resent} resent, {out.skipped} skipped "
                     "(follow them with `meldingen show ID` or `status`)")
    return out


def render_dead(rows: list[DeadLetter]) -> str:
    """The dead letters as a table: id, original routing key, size, when, why."""
    lines = [f"{'message id':<38} {'routing key':<28} {'bytes':>8}  {'published':<16}  reason"]
    for d in rows:
        when = (datetime.fromtimestamp(d.timestamp, UTC).strftime("%Y-%m-%d %H:%M")
                if d.timestamp else "-")
        lines.append(f"{(d.message_id or '-')[:38]:<38} {d.routing_key[:28]:<28} {d.size:>8}  "
                     f"{when:<16}  {d.reason}")
    return "\n".join(lines)


def replay_dead(settings: Settings, *, message_id: str | None, confirm: Confirm,
                echo: Callable[[str], None] | None = None) -> ReplayReport:
    """Show the dead letters (the one with ``message_id``, or all), ask, move them back."""
    out = ReplayReport(echo) if echo is not None else ReplayReport()
    params = connection_parameters(settings.amqp, name="verzuim-adapter replay")
    where = f"{settings.amqp.dead_queue} at {redact_url(settings.amqp.url)}"
    try:
        rows = [d for d in list_dead_letters(settings.amqp, params)
                if message_id is None or d.message_id == message_id]
        if not rows:
            out.say(f"replay: no dead letters in {settings.amqp.dead_queue}"
                             + (f" with message id {message_id}" if message_id else ""))
            return out
        out.say(render_dead(rows))
        if not confirm(f"Move {len(rows)} dead letter(s) back to {settings.amqp.sis_exchange}?"):
            out.declined = True
            out.say("replay: nothing resent")
            return out
        wanted = {d.message_id for d in rows if d.message_id}
        moved = replay_dead_letters(settings.amqp, params, message_ids=wanted)
    except pika.exceptions.ChannelClosedByBroker as exc:
        raise AdapterError(f"replay: {where}: the broker refused ({exc.reply_code} "
                           f"{exc.reply_text})") from exc
    except pika.exceptions.UnroutableError as exc:
        raise AdapterError(f"replay: no queue bound to {settings.amqp.sis_exchange!r} for a "
                           "dead letter's routing key; it stays in the dead queue") from exc
    except pika.exceptions.AMQPError as exc:
        raise TransientError(f"replay: RabbitMQ not reachable ({where}, "
                             f"{type(exc).__name__})") from exc
    out.resent = len(moved)
    out.skipped = len(rows) - len(moved)
    for d in moved:
        out.say(f"message {d.message_id or '-'} back to {settings.amqp.sis_exchange} "
                         f"as {d.routing_key}")
    out.say(f"replay: {out.resent} moved, {out.skipped} not found any more; the "
                     "daemon takes them in again (a message whose cause remains is "
                     "dead-lettered again)")
    return out
