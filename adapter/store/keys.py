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

Every problem is a one-line :class:`~adapter.errors.ConfigError` that names the
setting, never a key.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog

from adapter.errors import ConfigError
from adapter.store.crypto import Cipher, new_key, parse_keys

if TYPE_CHECKING:
    from adapter.config import StoreSettings
    from adapter.store.store import Store

log = structlog.get_logger(__name__)


def read_key_file(path: Path) -> list[bytes]:
    """The keys in ``path``; ConfigError when missing, too open or not keys."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(
            f"store.encryption_key_file {path} cannot be read ({exc.strerror})") from exc
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(f"store.encryption_key_file {path} is readable by group or "
                          "others; chmod 600 it")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"store.encryption_key_file {path} cannot be read") from exc
    try:
        return parse_keys(text)
    except ValueError as exc:
        raise ConfigError(f"store.encryption_key_file {path}: {exc}") from None


def create_key_file(path: Path, keys: list[bytes]) -> bool:
    """Write ``keys`` (newest first) to a new file ``path``, mode 0600, complete or not
    at all; False when ``path`` exists already (another process made it first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write("".join(key.decode("ascii") + "\n" for key in keys))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def default_key_file(url: str) -> Path | None:
    """``<database>.key`` of a SQLite file store; None for memory or PostgreSQL."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return None
    return Path(database).expanduser().resolve().with_name(Path(database).name + ".key")


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
    """Open the configured store with its key, checked against the stored rows."""
    from adapter.store.store import Store
    return Store.open(settings.url, migrate=migrate, cipher=cipher_for(settings, environ))
