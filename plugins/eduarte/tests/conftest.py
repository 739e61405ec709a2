"""Fixtures for the eduarte plugin tests; helpers live in ``eduarte_support`` (unique name)."""

from __future__ import annotations

import pytest

from verzuim_eduarte.plugin import EduarteVendor


@pytest.fixture()
def vendor() -> EduarteVendor:
    return EduarteVendor()
