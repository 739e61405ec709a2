"""Shared by the intake tests: settings for school 00AA on a SQLite file, and its store
(a test module that needs another store defines its own ``store``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.config import Settings, load_settings
from adapter.store import Store
from support import SCHOOL_OIN


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return load_settings(None, overrides={"school": {"brin": "00AA", "oin": SCHOOL_OIN},
                                          "store": {"url": f"sqlite:///{tmp_path / 's.db'}"}})


@pytest.fixture()
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings.store.url)
    yield s
    s.close()
