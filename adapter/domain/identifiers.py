"""Format and check-digit validation of the identifiers DUO uses (``duo-verzuim.md`` §1.3).

Every function takes anything and returns a bool: a non-string is simply
invalid. Only ASCII digits count as digits (``str.isdigit`` would accept
Arabic-Indic digits, ``$`` in a regex would accept a trailing newline, so
everything uses :func:`re.fullmatch` on explicit classes).
"""

from __future__ import annotations

import re

_NINE_DIGITS = re.compile(r"[0-9]{9}")
_BRIN = re.compile(r"[0-9]{2}[A-Z0-9]{2}")
_OIN = re.compile(r"[0-9A-Z]{20}")
_POSTCODE = re.compile(r"[1-9][0-9]{3} ?[A-Z]{2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)


def _weighted(s: str) -> int:
    """9*p1 + 8*p2 + ... + 2*p8 over the first eight digits."""
    return sum(w * int(c) for w, c in zip(_WEIGHTS, s))


def is_valid_bsn(s: object) -> bool:
    """Burgerservicenummer: 9 digits, not all zero, (9p1+…+2p8 − p9) mod 11 == 0 (11-proef)."""
    if not isinstance(s, str) or not _NINE_DIGITS.fullmatch(s) or s == "000000000":
        return False
    return (_weighted(s) - int(s[8])) % 11 == 0


def is_valid_onderwijsnummer(s: object) -> bool:
    """Onderwijsnummer: 9 digits with (9p1+…+2p8) mod 11 == p9 + 5, taken literally.

    The left side is at most 10, so p9 must be at most 5: a number ending in
    6–9 is invalid even when the looser modular reading would accept it.
    """
    if not isinstance(s, str) or not _NINE_DIGITS.fullmatch(s):
        return False
    return _weighted(s) % 11 == int(s[8]) + 5


def is_valid_brin(s: object) -> bool:
    """BRIN (instellingscode): two digits then two capitals or digits, e.g. ``25PL``."""
    return isinstance(s, str) and _BRIN.fullmatch(s) is not None


def is_valid_oin(s: object) -> bool:
    """OIN: 20 of ``[0-9A-Z]`` (BRIN-based OINs contain letters; §3.6)."""
    return isinstance(s, str) and _OIN.fullmatch(s) is not None


def is_valid_postcode(s: object) -> bool:
    """Dutch postcode ``1234AB``, optionally with one space (``1234 AB``)."""
    return isinstance(s, str) and _POSTCODE.fullmatch(s) is not None


def is_valid_uuid(s: object) -> bool:
    """A UUID in 8-4-4-4-12 hex form, 36 characters (identificatiecodeBedrijfsdocument)."""
    return isinstance(s, str) and _UUID.fullmatch(s) is not None
