"""Files next to the store that hold its secrets, read and made once at start-up.

Used by :mod:`adapter.store.keys` (which decides where each secret comes from)
and by :meth:`adapter.store.Store.open` (the default student key secret of a
store opened without one). Every problem is a one-line
:class:`~adapter.errors.ConfigError` naming the setting and the path, never a
secret.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa
import structlog

from adapter.errors import ConfigError
from adapter.store.pseudonyms import StudentKeySecret, new_secret

log = structlog.get_logger(__name__)


def read_private(path: Path, setting: str) -> str:
    """The text of ``path``; ConfigError (naming ``setting``) when missing or too open."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(f"{setting} {path} cannot be read ({exc.strerror})") from exc
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(f"{setting} {path} is readable by group or others; chmod 600 it")
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{setting} {path} cannot be read") from exc


def create_private(path: Path, text: str) -> bool:
    """Write ``text`` to a new file ``path``, mode 0600, complete or not at all; False
    when ``path`` exists already (another process made it first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text)
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


def read_secret_file(path: Path) -> StudentKeySecret:
    """The student key secret in ``path``; ConfigError when missing, too open or short."""
    text = read_private(path, "store.student_key_secret_file")
    try:
        return StudentKeySecret(text)
    except ValueError as exc:
        raise ConfigError(f"store.student_key_secret_file {path}: the secret {exc}") from None


def default_student_secret(url: str) -> StudentKeySecret:
    """The secret of a store with none configured: ``<database>.student.key`` of a SQLite
    file (generated on first use), a fresh one in memory; ConfigError for PostgreSQL."""
    if sa.make_url(url).get_backend_name() != "sqlite":
        raise ConfigError("store.student_key_secret or store.student_key_secret_file is "
                          "required with PostgreSQL")
    key_file = default_key_file(url)
    if key_file is None:
        return StudentKeySecret.generate()  # in memory: the data lives as long as the secret
    path = key_file.with_name(key_file.name.removesuffix(".key") + ".student.key")
    if not path.exists() and create_private(path, new_secret() + "\n"):
        log.warning("store_student_key_secret_generated", path=str(path))
    return read_secret_file(path)
