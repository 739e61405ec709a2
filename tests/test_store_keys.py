"""Where the store's key comes from (adapter.store.keys) and ``archive rotate-key``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from adapter.cli import cli
from adapter.config import StoreSettings, load_settings
from adapter.errors import ConfigError
from adapter.store import IncomingReport, Store
from adapter.store.crypto import Cipher
from adapter.store.keys import cipher_for, open_store, student_secret_for
from adapter.store.pseudonyms import StudentKeySecret
from adapter.testing import make_melding


def key_file(path: Path, *keys: bytes, mode: int = 0o600) -> Path:
    path.write_text("# newest first\n" + "".join(k.decode() + "\n" for k in keys))
    path.chmod(mode)
    return path


def sqlite(tmp_path: Path, **kw: object) -> StoreSettings:
    return StoreSettings(url=f"sqlite:///{tmp_path / 'db' / 'verzuim.db'}", **kw)


def test_a_key_file_group_or_others_can_read_is_refused(tmp_path: Path) -> None:
    path = key_file(tmp_path / "keys", Fernet.generate_key(), mode=0o640)
    with pytest.raises(ConfigError, match="readable by group or others; chmod 600"):
        cipher_for(sqlite(tmp_path, encryption_key_file=path), {})
    path.chmod(0o400)
    assert isinstance(cipher_for(sqlite(tmp_path, encryption_key_file=path), {}), Cipher)


def test_a_key_file_without_keys_or_with_garbage_names_the_line_not_the_key(
        tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("not-a-key-SECRETISH\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="line 1 is not a Fernet key") as exc:
        cipher_for(sqlite(tmp_path, encryption_key_file=path), {})
    assert "SECRETISH" not in str(exc.value)
    with pytest.raises(ConfigError, match="cannot be read"):
        cipher_for(sqlite(tmp_path, encryption_key_file=tmp_path / "absent"), {})


def test_keys_from_the_environment_given_at_the_edge(tmp_path: Path) -> None:
    settings = sqlite(tmp_path, encryption_key_env="VERZUIM_TEST_KEYS")
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    cipher = cipher_for(settings, {"VERZUIM_TEST_KEYS": keys})
    assert cipher is not None and cipher.key_count == 2
    with pytest.raises(ConfigError, match="VERZUIM_TEST_KEYS is not set"):
        cipher_for(settings, {})


def test_without_a_key_sqlite_gets_one_next_to_the_database_and_postgresql_is_refused(
        tmp_path: Path) -> None:
    settings = sqlite(tmp_path)
    first = cipher_for(settings, {})
    made = tmp_path / "db" / "verzuim.db.key"
    assert first is not None and made.is_file() and made.stat().st_mode & 0o777 == 0o600
    token = first.encrypt(b"x")
    again = cipher_for(settings, {})                  # the same key the next time
    assert again is not None and again.decrypt(token) == b"x"
    with pytest.raises(ConfigError, match="required with PostgreSQL"):
        cipher_for(StoreSettings(url="postgresql://u@127.0.0.1/db"), {})
    assert cipher_for(StoreSettings(url="postgresql://u@127.0.0.1/db", encryption="off"),
                      {}) is None


def test_both_key_sources_at_once_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[store]\nencryption_key_file = "k"\nencryption_key_env = "K"\n')
    with pytest.raises(ConfigError, match="not both"):
        load_settings(cfg)


def test_a_relative_key_file_is_relative_to_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[store]\nencryption_key_file = "secret/keys"\n')
    assert load_settings(cfg).store.encryption_key_file == tmp_path / "secret" / "keys"


def _config(tmp_path: Path, keys: Path) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "v.db"}"\n'
                   f'encryption_key_file = "{keys}"\n')
    return cfg


def _one_report(settings: StoreSettings) -> None:
    store = open_store(settings, {})
    try:
        store.accept(message_id="m1", vendor="acme", routing_key="acme.export",
                     items=[IncomingReport(vendor="acme", melding=make_melding())])
    finally:
        store.close()


def test_rotate_key_then_the_old_key_can_go(tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    keys = key_file(tmp_path / "keys", old)
    cfg = _config(tmp_path, keys)
    _one_report(load_settings(cfg).store)
    key_file(keys, new, old)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "archive", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted with the newest key" in result.output
    key_file(keys, new)
    store = open_store(load_settings(cfg).store, {})
    try:
        [summary] = store.list_reports()
        assert store.report_content(summary.report_id) is not None
    finally:
        store.close()


def test_a_wrong_key_is_a_one_line_start_up_error(tmp_path: Path) -> None:
    keys = key_file(tmp_path / "keys", Fernet.generate_key())
    cfg = _config(tmp_path, keys)
    _one_report(load_settings(cfg).store)
    key_file(keys, Fernet.generate_key())
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERZUIM_")}
    proc = subprocess.run([sys.executable, "-m", "adapter", "--config", str(cfg), "status",
                           "--offline"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "cannot be decrypted with the configured key" in proc.stderr


def test_new_key_prints_a_fernet_key() -> None:
    result = CliRunner().invoke(cli, ["archive", "new-key"])
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())


def test_store_open_without_cipher_still_writes_clear_rows(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert store.database.cipher is None
    finally:
        store.close()


def test_the_daemon_refuses_to_start_with_a_wrong_key_in_one_line(
        tmp_path: Path, pki_dir: Path) -> None:
    keys = key_file(tmp_path / "keys", Fernet.generate_key())
    cfg = _config(tmp_path, keys)
    _one_report(load_settings(cfg).store)
    key_file(keys, Fernet.generate_key())
    cfg.write_text(cfg.read_text() + f'[duo]\nca_bundle = "{pki_dir / "trust-bundle.pem"}"\n'
                   f'client_cert = "{pki_dir / "school.pem"}"\n'
                   f'client_key = "{pki_dir / "school-key.pem"}"\n'
                   f'signature_cert = "{pki_dir / "duo.pem"}"\n'
                   '[school]\nbrin = "00AA"\noin = "00000099000000000001"\n'
                   '[health]\nport = 0\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERZUIM_")}
    proc = subprocess.run([sys.executable, "-m", "adapter", "--config", str(cfg), "run"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the store's data cannot be "
                                                           "decrypted")
    assert "Traceback" not in proc.stderr


# ---- the student key secret (adapter.store.pseudonyms) ---------------------------------

SECRET = "school-student-key-secret-" + "k" * 20


def test_without_a_secret_sqlite_gets_one_next_to_the_database_and_postgresql_is_refused(
        tmp_path: Path) -> None:
    settings = sqlite(tmp_path)
    first = student_secret_for(settings)
    made = tmp_path / "db" / "verzuim.db.student.key"
    assert made.is_file() and made.stat().st_mode & 0o777 == 0o600
    assert student_secret_for(settings).fingerprint() == first.fingerprint()   # kept
    with pytest.raises(ConfigError, match="student_key_secret_file is required with PostgreSQL"):
        student_secret_for(StoreSettings(url="postgresql://u@127.0.0.1/db"))
    made.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by group or others"):
        student_secret_for(settings)


def test_the_secret_from_the_config_or_a_file(tmp_path: Path) -> None:
    inline = student_secret_for(sqlite(tmp_path, student_key_secret=SECRET))
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    from_file = student_secret_for(sqlite(tmp_path, student_key_secret_file=path))
    assert inline.fingerprint() == from_file.fingerprint() == StudentKeySecret(SECRET).fingerprint()
    assert not (tmp_path / "db" / "verzuim.db.student.key").exists()   # none generated
    path.write_text("too short\n")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        student_secret_for(sqlite(tmp_path, student_key_secret_file=path))


def test_the_secret_setting_is_checked_and_never_shown(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[store]\nstudent_key_secret = "short-secret-x"\n')
    with pytest.raises(ConfigError, match="store.student_key_secret: .*at least 32") as info:
        load_settings(cfg)
    assert "short-secret-x" not in str(info.value)
    cfg.write_text(f'[store]\nstudent_key_secret = "{SECRET}"\n'
                   'student_key_secret_file = "s"\n')
    with pytest.raises(ConfigError, match="not both"):
        load_settings(cfg)
    cfg.write_text(f'[store]\nstudent_key_secret = "{SECRET}"\n')
    settings = load_settings(cfg)
    for shown in (repr(settings), str(settings), repr(settings.store),
                  settings.model_dump_json(), repr(student_secret_for(settings.store))):
        assert SECRET not in shown and "k" * 20 not in shown


def test_the_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("VERZUIM_STORE__STUDENT_KEY_SECRET", SECRET)
    settings = load_settings(None)
    assert settings.store.student_key_secret is not None
    assert (student_secret_for(settings.store).fingerprint()
            == StudentKeySecret(SECRET).fingerprint())


def test_another_secret_is_a_one_line_start_up_error(tmp_path: Path) -> None:
    keys = key_file(tmp_path / "keys", Fernet.generate_key())
    cfg = _config(tmp_path, keys)
    _one_report(load_settings(cfg).store)                  # secret: v.db.student.key, made now
    with cfg.open("a") as out:
        out.write(f'student_key_secret = "{SECRET}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERZUIM_")}
    proc = subprocess.run([sys.executable, "-m", "adapter", "--config", str(cfg), "status",
                           "--offline"], capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "not the secret this store's student keys were made with" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
    secret_file = tmp_path / "v.db.student.key"
    assert secret_file.read_text().strip() not in proc.stderr + proc.stdout
