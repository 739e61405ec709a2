"""Student keys: keyed hashes that group a student's records without storing the id.

A student key (``reports.student_key``, ``registraties``, ``submissions``,
``signals``, ``student_aliases``) and a hashed SIS student number
(``student_aliases.leerling_key``) are made by one function,
:meth:`StudentKeySecret.key`::

    HMAC-SHA256(secret, SHA-256(text).hexdigest()).hexdigest()

where ``text`` is what identifies the student (BRIN and BSN or onderwijsnummer,
:func:`~adapter.store.common.student_key_of`; vendor, BRIN and leerlingnummer,
:func:`~adapter.store.students.leerling_key`; for a report typed into DUO's web
counter, which names no student, BRIN and its business key,
:func:`~adapter.store.common.record_key`). A BSN has nine digits: an unkeyed hash of it
is reversed by trying them all, in seconds. With the secret (at least
:data:`MIN_SECRET_CHARS` characters, from ``[store] student_key_secret`` or
``student_key_secret_file``, see :mod:`adapter.store.keys`) a copy of the
database alone no longer tells who a key belongs to.

Decision: the SHA-256 the keys were before (up to migration 0008) is kept as the
inner value, so migration 0009 re-keys the stored rows with
:meth:`StudentKeySecret.rekey` (``HMAC(secret, old key)``) without the BSNs,
which sit inside encrypted columns (or, for a web report, were never known).

The database holds a fingerprint of the secret (``store_checks`` row
``student_key_check``: ``HMAC(secret, "verzuim-adapter student_key check")``,
never the secret). :func:`adapter.store.students.check_secret` compares it at start-up: a wrong or
changed secret would silently split every student in two, so it is refused with
a one-line :class:`~adapter.errors.ConfigError` instead.

Like the cipher (:mod:`adapter.store.crypto`), the secret belongs to the engine
(kept on its dialect): the store's functions, which get a ``Connection``, find
it with :func:`secret_of`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy.engine import Connection, Dialect

MIN_SECRET_CHARS = 32
#: ``store_checks.name`` of the secret's fingerprint.
CHECK_NAME = "student_key_check"
_CHECK_TEXT = "verzuim-adapter student_key check"
_ATTRIBUTE = "verzuim_student_secret"


class StudentKeySecret:
    """The secret student keys are made with; immutable, never shown (repr, str, logs)."""

    __slots__ = ("_secret",)
    _secret: bytes

    def __init__(self, secret: str) -> None:
        secret = secret.strip()
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
        object.__setattr__(self, "_secret", secret.encode())

    @classmethod
    def generate(cls) -> StudentKeySecret:
        return cls(new_secret())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("StudentKeySecret is immutable")

    def __repr__(self) -> str:
        return "StudentKeySecret('**********')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a StudentKeySecret is not pickled")

    def rekey(self, unkeyed: str) -> str:
        """``HMAC-SHA256(secret, unkeyed)``: the key of an unkeyed SHA-256 hex digest."""
        return hmac.new(self._secret, unkeyed.encode(), hashlib.sha256).hexdigest()

    def key(self, text: str) -> str:
        """The keyed hash of ``text``: every student key and leerling key is made here."""
        return self.rekey(hashlib.sha256(text.encode()).hexdigest())

    def fingerprint(self) -> str:
        """What the database keeps to recognise this secret (never the secret)."""
        return self.rekey(_CHECK_TEXT)


def new_secret() -> str:
    """A fresh random secret (64 URL-safe characters)."""
    return secrets.token_urlsafe(48)


def attach(dialect: Dialect, secret: StudentKeySecret | None) -> None:
    """Make ``secret`` the one this engine's student keys are made with."""
    setattr(dialect, _ATTRIBUTE, secret)


def secret_of(dialect: Dialect) -> StudentKeySecret | None:
    secret: StudentKeySecret | None = getattr(dialect, _ATTRIBUTE, None)
    return secret


def need_secret(conn: Connection) -> StudentKeySecret:
    """The secret of ``conn``'s engine; RuntimeError when the store was opened without."""
    secret = secret_of(conn.dialect)
    if secret is None:
        raise RuntimeError("the store was opened without a student key secret")
    return secret
