"""Attachments judged by their content, size and name; refusals name a rule, not the file."""

from __future__ import annotations

import hashlib

import pytest

from adapter.domain.attachments import (DEFAULT_ALLOWED, DUO_MAX_BYTES, Checked,
                                        check_attachment, sniff)

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@pytest.mark.parametrize("content, mime", [(PDF, "application/pdf"), (PNG, "image/png"),
                                           (JPEG, "image/jpeg"), (b"MZ\x90\x00", None),
                                           (b"plain text", None), (b"", None)])
def test_type_comes_from_the_content(content: bytes, mime: str | None) -> None:
    assert sniff(content) == mime


def test_a_fit_file_has_type_size_and_hash() -> None:
    checked = check_attachment(PDF, "brief.pdf", max_bytes=DUO_MAX_BYTES, allowed=DEFAULT_ALLOWED)
    assert checked == Checked("application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())


def test_the_name_says_nothing_about_the_type() -> None:
    # A PDF named .png is a PDF; an executable named .pdf is refused.
    assert isinstance(check_attachment(PDF, "scan.png", max_bytes=100, allowed=DEFAULT_ALLOWED),
                      Checked)
    refused = check_attachment(b"MZ\x90\x00", "brief.pdf", max_bytes=100,
                               allowed=DEFAULT_ALLOWED)
    assert refused[0] == "inhoud" and refused[2] == "AD041"  # type: ignore[index]


@pytest.mark.parametrize("content, name, max_bytes, allowed, field, code", [
    (PDF, "brief.pdf", len(PDF) - 1, DEFAULT_ALLOWED, "inhoud", "AD040"),
    (PDF + b"x" * DUO_MAX_BYTES, "brief.pdf", 10 * DUO_MAX_BYTES, DEFAULT_ALLOWED, "inhoud", "AD040"),
    (PNG, "foto.png", 1000, ("application/pdf",), "inhoud", "AD041"),
    (PDF, None, 1000, DEFAULT_ALLOWED, "bestandsnaam", "AD042"),
    (PDF, "map/brief.pdf", 1000, DEFAULT_ALLOWED, "bestandsnaam", "AD042"),
    (PDF, "x" * 201, 1000, DEFAULT_ALLOWED, "bestandsnaam", "AD042"),
], ids=["over-max", "over-duo", "type-not-allowed", "no-name", "slash", "long-name"])
def test_refusals_name_field_and_code_never_the_value(content: bytes, name: str | None,
                                                      max_bytes: int, allowed: tuple[str, ...],
                                                      field: str, code: str) -> None:
    refused = check_attachment(content, name, max_bytes=max_bytes, allowed=allowed)
    assert not isinstance(refused, Checked)
    assert (refused[0], refused[2]) == (field, code)
    assert (name or "@@") not in refused[1]
