"""Structured logging: structlog events, redacted before they are rendered.

``configure_logging`` is called once at the edge (the command line). Events are
snake_case names with key/value context; context bound with
``structlog.contextvars.bind_contextvars`` is merged into every event, and
:func:`in_context` carries it into worker threads. The redaction processor sits
directly before the renderer, so no code path can skip it: it drops personal
fields by name and masks personal data by pattern (9-digit numbers, e-mail
addresses, phone numbers, postcodes) in every string, also in foreign
(stdlib) records from pika, zeep and urllib3.

The daemon's threads carry their names to the system too (:func:`name_native`,
:func:`named`): ``top -H -p <pid>``, ``ps -L -p <pid>`` and
``/proc/<pid>/task/<tid>/comm`` then say which part uses the CPU (``submitter``,
``duo_0``) instead of ``python`` for each (``bench/e2e.py`` reads them there).
Linux only (``prctl(PR_SET_NAME)``, at most 15 bytes); elsewhere nothing happens.
"""

from __future__ import annotations

import contextvars
import ctypes
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TypeVar

import structlog

REDACTED = "[redacted]"

# Field names whose values are personal data, whatever they contain.
PERSONAL_KEYS = frozenset({
    "bsn", "burgerservicenummer", "onderwijsnummer", "naam", "name", "achternaam", "voornamen",
    "voorvoegsel", "geboortedatum", "birth_date", "adres", "address", "straatnaam", "postcode",
    "huisnummer", "plaatsnaam", "telefoon", "telefoonnummer", "phone", "email", "emailadres",
    "e_mail", "reden", "vermoedelijke_reden", "toelichting", "toelichting_actie_ondernomen",
    "toelichting_actie_gewenst", "text", "body", "payload", "request_xml", "response_xml",
    "student", "melder", "behandelaar", "password", "passphrase",
})

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<![\w-])\d{9}(?![\w-])"), "[9-digits]"),
    (re.compile(r"(?<![\w+])(?:\+31|0031|0)[\s-]?(?:\d[\s-]?){9}(?!\w)"), "[phone]"),
    (re.compile(r"(?<!\w)[1-9]\d{3}\s?[A-Z]{2}(?!\w)"), "[postcode]"),
)

# Keys our own events use that hold ids, never personal data: kept verbatim so
# uuids and counters survive (a document id contains digit runs).
_TRUSTED_KEYS = frozenset({
    "event", "level", "logger", "timestamp", "document_id", "message_id", "submission_id",
    "report_id", "outbox_id", "meldingsnummer", "attempt", "vendor", "brin",
})


# Every pattern above needs a digit or an ``@``: text without either is returned as
# it is, without running the four patterns (most of what a log line holds).
_MAY_MATCH = re.compile(r"[0-9@]")


def redact_text(text: str) -> str:
    """Mask personal data patterns inside free text."""
    if _MAY_MATCH.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in PERSONAL_KEYS else _redact_value(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact_text(repr(value))


def redact_personal_data(_logger: Any, _method: str,
                         event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: remove personal fields by name, mask patterns elsewhere."""
    for key in list(event_dict):
        if key.lower() in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        elif key in _TRUSTED_KEYS and key != "event":
            continue
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def _quiet_chatty_loggers() -> None:
    # zeep.transports and urllib3 log whole request/response bodies at DEBUG:
    # personal data. They are pinned above DEBUG whatever the configured level.
    for name in ("zeep", "zeep.transports", "zeep.wsdl", "zeep.xsd", "urllib3", "pika",
                 "requests", "werkzeug", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]


def configure_logging(level: str = "info", fmt: str = "auto", *, stream: Any = None) -> None:
    """Configure structlog and stdlib logging once, for the whole process.

    ``fmt``: ``json``, ``console`` or ``auto`` (console on a terminal, JSON otherwise).
    """
    stream = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=False) if use_console
                     else structlog.processors.JSONRenderer(sort_keys=False))
    pre_chain = shared_processors()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact_personal_data,  # always directly before the renderer
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _quiet_chatty_loggers()
    # Nothing rendered uses the caller's file and line, the thread or the process of a
    # record: the standard library need not find them for every line (its logging
    # HOWTO, "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    structlog.configure(
        # A call below the level is dropped first, before any processor runs.
        processors=[structlog.stdlib.filter_by_level, *pre_chain,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


T = TypeVar("T")


def in_context(fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap ``fn`` so it runs in a copy of the caller's context (bound log vars).

    Threads start with an empty context; submit ``in_context(work)`` to an
    executor so the values bound for the current record travel with it.
    """
    ctx = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> T:
        return ctx.copy().run(fn, *args, **kwargs)

    return run


# ---- thread names for the system ------------------------------------------------------

_PR_SET_NAME = 15      # <linux/prctl.h>
_NAME_BYTES = 15       # the kernel keeps 16, the last a NUL


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The running program's own symbols: libc is among them, without a search.
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _prctl()


def name_native(name: str | None = None) -> None:
    """Give the calling OS thread ``name`` (default: its Python thread's name), cut to
    15 bytes; a name the system refuses is left as it was (a name is only a label)."""
    if _PRCTL is None:
        return
    text = (name or threading.current_thread().name).encode("ascii", "replace")[:_NAME_BYTES]
    _PRCTL(_PR_SET_NAME, ctypes.c_char_p(text), 0, 0, 0)


def named(target: Callable[..., Any]) -> Callable[..., Any]:
    """``target``, run under its thread's native name (for ``threading.Thread``)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        name_native()
        return target(*args, **kwargs)

    return run
