"""Attachments (bijlagen): what a file must be before it goes to DUO. Pure logic.

The type is decided by the file's own first bytes, never by the name or the
AMQP ``content_type`` a SIS declares: a PDF starts ``%PDF-``, a PNG with its
eight-byte signature, a JPEG ``FF D8 FF``. DUO's schema allows at most 5 MiB
(``Inhoud``: base64Binary, maxLength 5242880 octets) and a ``bestandsnaam`` of 1–200
characters without ``/`` or ``\\``. Refusals name a rule and an adapter code, never
the file's name or content.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from adapter.domain.rules import ADAPTER_RULES

#: MIME type → the signatures (leading bytes) that identify it.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
DEFAULT_ALLOWED = tuple(SIGNATURES)
#: DUO's schema limit on an attachment's content, in bytes (5 MiB).
DUO_MAX_BYTES = 5 * 1024 * 1024
_NAME = re.compile(r"[^/\\]{1,200}")


@dataclass(frozen=True)
class Checked:
    """A file fit to send: its type by content, size and SHA-256."""

    mime_type: str
    size: int
    sha256: str


def sniff(content: bytes) -> str | None:
    """The MIME type the content's leading bytes identify, or None."""
    for mime, signatures in SIGNATURES.items():
        if content.startswith(signatures):
            return mime
    return None


def check_attachment(content: bytes, bestandsnaam: str | None, *, max_bytes: int,
                     allowed: tuple[str, ...]) -> Checked | tuple[str, str, str]:
    """``Checked``, or the first refusal as (field, rule, code)."""
    if not bestandsnaam or not _NAME.fullmatch(bestandsnaam):
        return ("bestandsnaam", ADAPTER_RULES["AD042"], "AD042")
    if len(content) > min(max_bytes, DUO_MAX_BYTES):
        return ("inhoud", ADAPTER_RULES["AD040"], "AD040")
    mime = sniff(content)
    if mime is None or mime not in allowed:
        return ("inhoud", ADAPTER_RULES["AD041"], "AD041")
    return Checked(mime_type=mime, size=len(content), sha256=hashlib.sha256(content).hexdigest())
