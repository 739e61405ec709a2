"""Fixtures shared by every test package: one test PKI per session."""

from __future__ import annotations

import os
import shutil
import subprocess
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


#: Fixtures that hand a test its own RabbitMQ vhost: a test using one talks to the broker.
BROKER_FIXTURES = frozenset({"amqp_vhost", "vhost"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that gets a vhost as ``broker`` (``pytest -m broker`` selects them)."""
    for item in items:
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.broker)


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """Debian's ``xmlsec1``, the independent XML-DSig verifier; installed when missing
    (``make test`` runs as root on Debian), else the test is skipped with the reason."""
    found = shutil.which("xmlsec1")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "xmlsec1"], capture_output=True,
                       timeout=600, check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("xmlsec1")
    if found is None:
        pytest.skip("xmlsec1 is not installed and cannot be installed here "
                    "(apt-get install xmlsec1)")
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's ``chromium``, a real browser to render the evidence page headless;
    installed when missing (as root on Debian), else the test is skipped with the reason."""
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True,
                       timeout=900, check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed and cannot be installed here "
                    "(apt-get install chromium)")
    return found
