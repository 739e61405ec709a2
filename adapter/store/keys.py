"""Where the store's encryption key comes from, decided once at start-up.

``[store]`` settings (docs/configuration.md):

* ``encryption_key_file``: a file of Fernet keys, one a line, newest first;
  mode 0600 or stricter (refused when group or others may read it).
* ``encryption_key_env``: the name of an environment variable holding the
  keys (newline- or comma-separated, newest first); the environment is read at
  the edge and passed in.
* neither, with a SQLite file store: the key file ``<database>.key`` next to
  the database, generated (mode 0600) on first start with the warning
  ``store_key_generated`` — back it up apart from the database. An in-memory
  database gets a key for the life of the process.
* neither, with PostgreSQL: refused (there is no "next to the database").
* ``encryption = "off"``: no encryption (``store_encryption_off`` warning);
  rows written before stay readable only with their key.

The secret the student keys are made with (:mod:`adapter.store.pseudonyms`):

* ``student_key_secret``: the secret itself (at least 32 characters; best set
  through the environment, ``VERZUIM_STORE__STUDENT_KEY_SECRET``).
* ``student_key_secret_file``: a file holding it, mode 0600 or stricter.
* neither, with a SQLite file store: ``<database>.student.key`` next to the
  database, generated (mode 0600) on first start with the warning
  ``store_student_key_secret_generated``; in memory: one for the process.
* neither, with PostgreSQL: refused.

Every problem is a one-line :class:`~adapter.errors.ConfigError` that names the
setting, never a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog

from adapter.errors import ConfigError
from adapter.store.crypto import Cipher, new_key, parse_keys
from adapter.store.keyfiles import (
    create_private,
    default_key_file,
    default_student_secret,
    read_private,
    read_secret_file,
)
from adapter.store.pseudonyms import StudentKeySecret

if TYPE_CHECKING:
    from adapter.config import StoreSettings
    from adapter.store.store import Store

log = structlog.get_logger(__name__)


def read_key_file(path: Path) -> list[bytes]:
    """The keys in ``path``; ConfigError when missing, too open or not keys."""
    text = read_private(path, "store.encryption_key_file")
    try:
        return parse_keys(text)
    except ValueError as exc:
        raise ConfigError(f"store.encryption_key_file {path}: {exc}") from None


def create_key_file(path: Path, keys: list[bytes]) -> bool:
    """Write ``keys`` (newest first) to a new file ``path``, mode 0600, complete or not
    at all; False when ``path`` exists already (another process made it first)."""
    return create_private(path, "".join(key.decode("ascii") + "\n" for key in keys))


def student_secret_for(settings: StoreSettings) -> StudentKeySecret:
    """The secret the store's student keys are made with, or ConfigError."""
    if settings.student_key_secret is not None:
        try:
            return StudentKeySecret(settings.student_key_secret.get_secret_value())
        except ValueError as exc:  # validated in adapter.config already
            raise ConfigError(f"store.student_key_secret: {exc}") from None
    if settings.student_key_secret_file is not None:
        return read_secret_file(settings.student_key_secret_file)
    return default_student_secret(settings.url)


def cipher_for(settings: StoreSettings, environ: Mapping[str, str]) -> Cipher | None:
    """The cipher the store must use (None: encryption off), or ConfigError."""
    if settings.encryption == "off":
        log.warning("store_encryption_off")
        return None
    if settings.encryption_key_file is not None:
        return Cipher(read_key_file(settings.encryption_key_file))
    if settings.encryption_key_env is not None:
        name = settings.encryption_key_env
        value = environ.get(name, "")
        if not value.strip():
            raise ConfigError(f"store.encryption_key_env: environment variable {name} is "
                              "not set")
        try:
            return Cipher(parse_keys(value.replace(",", "\n")))
        except ValueError as exc:
            raise ConfigError(f"store.encryption_key_env: {name} {exc}") from None
    url = settings.url
    if sa.make_url(url).get_backend_name() == "sqlite" and default_key_file(url) is None:
        return Cipher([new_key()])  # in memory: the data lives as long as the key
    path = default_key_file(url)
    if path is None:
        raise ConfigError("store.encryption_key_file or store.encryption_key_env is required "
                          "with PostgreSQL (or set store.encryption = \"off\")")
    if not path.exists() and create_key_file(path, [new_key()]):
        log.warning("store_key_generated", path=str(path))
    return Cipher(read_key_file(path))


def open_store(settings: StoreSettings, environ: Mapping[str, str], *,
               migrate: bool = True) -> Store:
    """Open the configured store with its key and student key secret, both checked
    against the stored rows."""
    from adapter.store.store import Store
    return Store.open(settings.url, migrate=migrate, cipher=cipher_for(settings, environ),
                      student_secret=student_secret_for(settings))
