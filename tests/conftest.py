"""Fixtures shared by every test package: one test PKI per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.pki.testpki import init_test_pki
from support import SCHOOL_OIN


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete test PKI (school OIN ``SCHOOL_OIN``), made once per session."""
    directory = tmp_path_factory.mktemp("pki")
    init_test_pki(directory, school_oin=SCHOOL_OIN)
    return directory
