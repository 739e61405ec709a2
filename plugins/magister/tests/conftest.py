"""Fixtures for the magister plugin tests; helpers live in ``magister_helpers``."""

from __future__ import annotations

import pytest

from magister_helpers import vendor_for
from verzuim_magister.plugin import MagisterVendor


@pytest.fixture
def vendor() -> MagisterVendor:
    return vendor_for()
