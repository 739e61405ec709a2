"""Encryption at rest of the store's personal data (Fernet, ``MultiFernet`` for rotation).

What is encrypted, whole column, on SQLite and PostgreSQL alike:

* ``reports.payload`` and ``reports.record``, ``registraties.payload``,
  ``submissions.payload`` (reasons, toelichting, melder contact, the student),
* ``terugmeldingen.data`` (DUO's texts, the officer's contact), ``outbox.data``
  (events carry the same), ``signals.data``,
* ``exchanges.request_xml`` / ``response_xml`` (the SOAP envelopes) and
  ``bijlagen.content`` (attachments).

Decision: whole-column rather than field-level encryption. No query of the
store looks inside these columns in SQL (filters use the plain columns
``verzuimsoort``, ``state``, ``brin``, ``student_key``…; JSON is read in
Python), so nothing is lost and no sensitive key inside a JSON document can be
forgotten. The columns keep their types: a JSON column holds the JSON string
``"enc:v1:<fernet token>"``, a binary column the bytes ``enc:v1:<token>``, or
``enc:z1:<token>`` when the value was compressed (zstd, level 1) before it was encrypted:
from :data:`COMPRESS_FROM` bytes on, when that makes it an eighth smaller or more
(the SOAP envelopes, to about 40 %; PDFs and images rarely). An encrypted value
cannot be compressed afterwards, by the database or anyone: migration 0013 stops
PostgreSQL from trying. Together they took an envelope row's cost to PostgreSQL's CPU
from about 330 to about 70 µs and to the daemon's from 115 to 96 µs, and 60 % off the
envelopes' size (docs/performance.md, round 13). The length of a stored value shows
how well its clear text compressed, as it showed the clear length before.
The column types (:class:`EncryptedJSON`, :class:`EncryptedBytes`) encrypt on
write and decrypt on read, so every reader of the store gets clear data and
the rest of the adapter is unchanged. A value without the prefix is read as it
is (rows written before encryption was switched on); ``archive rotate-key``
encrypts those too.

The cipher belongs to the engine (it is kept on the engine's dialect, which
the column types are handed): two stores in one process may use different
keys, and a store opened without a cipher writes clear data (``encryption =
"off"``; the tests of other parts). Keys come from :func:`load_keys`; which key
source applies is decided by :func:`adapter.store.keys.cipher_for` at start-up.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import zstandard
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import Dialect

PREFIX = "enc:v1:"
PREFIX_BYTES = PREFIX.encode()
#: A binary value compressed before it was encrypted (as long as :data:`PREFIX`).
COMPRESSED_BYTES = b"enc:z1:"
#: Binary values from this many bytes on are compressed when that pays.
COMPRESS_FROM = 1024
_ATTRIBUTE = "verzuim_cipher"


class KeyMismatch(Exception):
    """A stored value cannot be decrypted with the configured keys (or none is configured)."""


class Cipher:
    """One or more Fernet keys, newest first: encrypts with the first, reads with any."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._primary = Fernet(keys[0])
        self._all = MultiFernet([Fernet(key) for key in keys])
        self.key_count = len(keys)

    def encrypt(self, data: bytes) -> bytes:
        return self._all.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._all.decrypt(token)
        except InvalidToken:
            raise KeyMismatch("a stored value cannot be decrypted with the configured keys"
                              ) from None

    def is_current(self, token: bytes) -> bool:
        """Whether ``token`` was made with the newest key (rotation skips it)."""
        try:
            self._primary.decrypt(token)
        except InvalidToken:
            return False
        return True

    # -- stored forms -------------------------------------------------------------------

    def seal_text(self, value: Any) -> str:
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        return PREFIX + self.encrypt(body).decode("ascii")

    def seal_bytes(self, value: bytes) -> bytes:
        """``enc:z1:`` and the token of ``value`` compressed, when that is an eighth
        smaller or more (from :data:`COMPRESS_FROM` bytes on), else ``enc:v1:`` and the
        token of ``value``."""
        clear = bytes(value)
        if len(clear) >= COMPRESS_FROM:
            packed = _compressor().compress(clear)
            if len(packed) <= len(clear) - len(clear) // 8:
                return COMPRESSED_BYTES + self.encrypt(packed)
        return PREFIX_BYTES + self.encrypt(clear)

    def open_bytes(self, value: bytes) -> bytes:
        """The clear bytes of a sealed binary value (either form)."""
        clear = self.decrypt(token_of(value))
        if bytes(value[:len(COMPRESSED_BYTES)]) != COMPRESSED_BYTES:
            return clear
        return _decompressor().decompress(clear)


# A zstd context is not to be shared by threads at once, and making one costs more than
# compressing an envelope with it (18 against 2-12 µs): one of each per thread.
_CODECS = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    codec: zstandard.ZstdCompressor | None = getattr(_CODECS, "compressor", None)
    if codec is None:
        codec = _CODECS.compressor = zstandard.ZstdCompressor(level=1)
    return codec


def _decompressor() -> zstandard.ZstdDecompressor:
    codec: zstandard.ZstdDecompressor | None = getattr(_CODECS, "decompressor", None)
    if codec is None:
        codec = _CODECS.decompressor = zstandard.ZstdDecompressor()
    return codec


def attach(dialect: Dialect, cipher: Cipher | None) -> None:
    """Make ``cipher`` the one the encrypted columns of this engine use."""
    setattr(dialect, _ATTRIBUTE, cipher)


def cipher_of(dialect: Dialect) -> Cipher | None:
    cipher: Cipher | None = getattr(dialect, _ATTRIBUTE, None)
    return cipher


def is_sealed(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(PREFIX)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value[:len(PREFIX_BYTES)]) in (PREFIX_BYTES, COMPRESSED_BYTES)
    return False


def token_of(value: Any) -> bytes:
    """The Fernet token inside a sealed stored value (a binary one's either form)."""
    if isinstance(value, str):
        return value[len(PREFIX):].encode("ascii")
    return bytes(value)[len(PREFIX_BYTES):]     # both binary prefixes are this long


def _need(dialect: Dialect) -> Cipher:
    cipher = cipher_of(dialect)
    if cipher is None:
        raise KeyMismatch("the store holds encrypted data but no key is configured")
    return cipher


class EncryptedJSON(sa.TypeDecorator[Any]):
    """A JSON column whose value is stored as ``"enc:v1:<token>"`` when a key is set."""

    impl = sa.JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        cipher = cipher_of(dialect)
        if value is None or cipher is None:
            return value
        return cipher.seal_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if not is_sealed(value):
            return value
        return json.loads(_need(dialect).decrypt(token_of(value)))


class EncryptedBytes(sa.TypeDecorator[bytes]):
    """A binary column whose value is stored as ``enc:v1:<token>`` or, compressed first,
    ``enc:z1:<token>`` when a key is set (:meth:`Cipher.seal_bytes`)."""

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        cipher = cipher_of(dialect)
        if value is None or cipher is None:
            return value
        return cipher.seal_bytes(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not is_sealed(value):
            return bytes(value)
        return _need(dialect).open_bytes(value)


def parse_keys(text: str) -> list[bytes]:
    """Fernet keys, one a line (newest first); blank lines and ``#`` comments ignored.

    Raises ValueError (naming the line, never the key) when a line is not a key.
    """
    keys: list[bytes] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            Fernet(line.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError(f"line {number} is not a Fernet key") from None
        keys.append(line.encode("ascii"))
    if not keys:
        raise ValueError("holds no key")
    return keys


def new_key() -> bytes:
    return Fernet.generate_key()
