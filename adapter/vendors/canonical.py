"""The built-in ``canonical`` vendor: the adapter's own JSON format, no mapping needed.

A SIS without a dedicated plugin publishes canonical JSON (``docs/canonical-format.md``)
with routing key ``canonical.<kind>``. The body is UTF-8 JSON, either one report
object or ``{"meldingen": [report, ...]}``; each report is the dict form of
:func:`adapter.domain.codec.melding_to_dict`. Registrations (one per student and
school day, :class:`adapter.domain.model.Registratie`) come as
``{"registraties": [registratie, ...]}`` (routing key ``canonical.registraties``),
optionally in one body with ``"meldingen"``; they fill reports' days as the
plugins' do. Events go back as one JSON object
per event (:meth:`CanonicalVendor.from_duo`).

This module is itself a pluggy plugin (registered by ``load_vendors``), and the
reference implementation of :class:`adapter.hookspecs.Vendor` for plugin authors.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from adapter import __version__
from adapter.domain.codec import melding_from_dict, registratie_from_json
from adapter.domain.model import MappedRecord, MappedRegistratie, OutboundEvent, RowRejection
from adapter.domain.rules import check_registratie
from adapter.errors import DecodeError, RuleViolation
from adapter.hookspecs import hookimpl

CONTENT_TYPE = "application/json"
#: The keys of a batch body, in the order their entries are yielded.
BATCH_KEYS = ("registraties", "meldingen")
REGISTRATIE_POSITION = "$.registraties["
#: A native record of this vendor: (JSON path of the report, the decoded object).
Native = tuple[str, Any]


def _json_content_type(content_type: str | None) -> bool:
    if content_type is None or not content_type.strip():
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _no_constants(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


class CanonicalVendor:
    """Canonical JSON in, canonical JSON events out. Stateless and thread-safe."""

    name = "canonical"
    version = __version__

    def parse(self, body: bytes, *, content_type: str | None) -> Iterator[Native | RowRejection]:
        """Yield ``(position, object)`` per report; RowRejection for a non-object entry.

        Positions are ``$`` for a single report, ``$.meldingen[i]`` and
        ``$.registraties[i]`` in a batch.
        Raises DecodeError (no value quoted) when the body is not UTF-8 JSON of
        one of the two shapes, or the content type is not JSON.
        """
        if not _json_content_type(content_type):
            raise DecodeError("content type is not application/json")
        try:
            text = bytes(body).decode("utf-8-sig")
            data = json.loads(text, parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError):
            # ``from None``: the decoder's exception holds the whole body (``.doc``,
            # ``.object``), which must not travel into tracebacks or error reports.
            raise DecodeError("body is not valid UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise DecodeError("body must be a JSON object: one report or {\"meldingen\": [...]}",
                              position="$")
        if "meldingen" not in data and "registraties" not in data:
            yield ("$", data)
            return
        if not set(data) <= set(BATCH_KEYS):
            raise DecodeError("a batch must be {\"registraties\": [...], \"meldingen\": [...]} "
                              "with no other keys", position="$")
        for key in BATCH_KEYS:  # registrations first: the reports of the message see them
            if key not in data:
                continue
            items = data[key]
            if not isinstance(items, list):
                raise DecodeError(f"{key} must be a list", position=f"$.{key}", field=key)
            for i, item in enumerate(items):
                position = f"$.{key}[{i}]"
                if isinstance(item, dict):
                    yield (position, item)
                else:
                    yield RowRejection(position, ((position, "must be an object"),))

    def to_duo(self, records: Sequence[object]
               ) -> Iterator[MappedRecord | MappedRegistratie | RowRejection]:
        """Decode each ``(position, object)`` with the canonical codec (a registration
        when the position is ``$.registraties[i]``, checked with
        :func:`~adapter.domain.rules.check_registratie`).

        Field names in rejections are full JSON paths (``$.meldingen[1].student.bsn``).
        ``source_id`` and ``brin`` are copied into a rejection only when they are strings.
        RowRejections passed in are passed through unchanged.
        """
        for record in records:
            if isinstance(record, RowRejection):
                yield record
                continue
            position, data = _native(record)
            if position.startswith(REGISTRATIE_POSITION):
                yield _registratie(position, data)
                continue
            try:
                melding = melding_from_dict(data, path=f"{position}.")
            except RuleViolation as exc:
                yield RowRejection(position, tuple(exc.violations),
                                   source_id=_str_or_none(data, "source_id"),
                                   brin=_str_or_none(data, "brin"))
                continue
            yield MappedRecord(position, melding)

    def from_duo(self, event: OutboundEvent) -> tuple[bytes, str]:
        """Render as UTF-8 JSON ``{"message_id", "event", "vendor", "brin", "source_id",
        **event.data}`` with content type ``application/json``."""
        doc: dict[str, Any] = {"message_id": event.message_id, "event": event.event,
                               "vendor": event.vendor, "brin": event.brin,
                               "source_id": event.source_id}
        doc.update(event.data)
        body = json.dumps(doc, ensure_ascii=False, default=_json_default, sort_keys=False)
        return body.encode("utf-8"), CONTENT_TYPE


def _registratie(position: str, data: Any) -> MappedRegistratie | RowRejection:
    """Decode and check one registration; a rejection names fields by JSON path."""
    try:
        reg = registratie_from_json(data, path=f"{position}.")
    except RuleViolation as exc:
        return RowRejection(position, tuple(exc.violations),
                            source_id=_str_or_none(data, "source_id"),
                            brin=_str_or_none(data, "brin"))
    violations = check_registratie(reg)
    if violations:
        return RowRejection(position, tuple((f"{position}.{v.field}", v.rule)
                                            for v in violations),
                            source_id=reg.source_id, brin=reg.brin)
    return MappedRegistratie(position, reg)


def _native(record: object) -> Native:
    if (isinstance(record, tuple) and len(record) == 2 and isinstance(record[0], str)):
        return record[0], record[1]
    raise TypeError("canonical.to_duo takes the (position, object) records of canonical.parse")


def _str_or_none(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"event data holds a {type(value).__name__}, which is not JSON-able")


VENDOR = CanonicalVendor()


@hookimpl
def adapter_register_vendors(register: Callable[[str, CanonicalVendor], None]) -> None:
    """Register the built-in ``canonical`` vendor."""
    register(VENDOR.name, VENDOR)


def parse_all(body: bytes, *, content_type: str | None = CONTENT_TYPE
              ) -> Iterable[MappedRecord | MappedRegistratie | RowRejection]:
    """Convenience for tests and the ``publish`` command: parse then map in one go."""
    natives: list[object] = []
    out: list[MappedRecord | MappedRegistratie | RowRejection] = []
    for item in VENDOR.parse(body, content_type=content_type):
        (out if isinstance(item, RowRejection) else natives).append(item)  # type: ignore[arg-type]
    out.extend(VENDOR.to_duo(natives))
    return out
