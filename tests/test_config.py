"""Configuration: validated once, one-line errors naming the key, every key documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from adapter.config import SchoolSettings, Settings, load_settings
from adapter.errors import ConfigError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def all_keys() -> list[str]:
    keys = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if section == "schools":  # a list of tables: [[schools]]
            model, section = SchoolSettings, "schools[]"
        assert isinstance(model, type) and issubclass(model, BaseModel)
        keys += [f"{section}.{name}" for name in model.model_fields]
    return keys


@pytest.mark.parametrize("key", all_keys())
def test_every_key_is_documented(key: str) -> None:
    assert f"`{key}`" in DOCS.read_text(encoding="utf-8"), f"{key} missing from docs/configuration.md"


def test_documented_keys_exist() -> None:
    documented = set(re.findall(r"^\| `([a-z_\[\]]+\.[a-z_]+)` \|", DOCS.read_text(), re.M))
    assert documented == set(all_keys())


def test_unknown_key_is_one_line_error_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[amqp]\nprefetchh = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "amqp.prefetchh" in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_value_names_key_not_value(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[school]\noin = "secret-looking-123456789"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "school.oin" in str(err.value)
    assert "123456789" not in str(err.value)


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[amqp]\nprefetch = 3\n")
    monkeypatch.setenv("VERZUIM_AMQP__PREFETCH", "9")
    assert load_settings(cfg).amqp.prefetch == 9


def test_settings_are_frozen_and_paths_resolved(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[duo]\nca_bundle = "pki/ca.pem"\n[store]\nurl = "sqlite:///data/x.db"\n')
    settings = load_settings(cfg)
    assert settings.duo.ca_bundle == tmp_path / "pki" / "ca.pem"
    assert settings.store.url == f"sqlite:///{tmp_path / 'data' / 'x.db'}"
    with pytest.raises(Exception):
        settings.duo.read_timeout = 1  # type: ignore[misc]


def test_plain_http_duo_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="duo.url"):
        load_settings(None, overrides={"duo": {"url": "http://127.0.0.1:8443/x"}})


def test_demo_config_is_valid() -> None:
    settings = load_settings(Path(__file__).resolve().parents[1] / "config" / "demo.toml")
    assert settings.duo.poll_interval <= 5
