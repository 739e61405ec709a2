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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that gets a vhost as ``broker`` (``pytest -m broker`` selects them).

    Tests that disturb the whole broker (``broker_wide``: a restart, a resource alarm) run
    after everything else, whatever order another plugin (pytest-randomly) chose: this
    hook runs last."""
    for item in items:
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.broker)
    wide = [item for item in items if item.get_closest_marker("broker_wide")]
    if wide:
        items[:] = [item for item in items if not item.get_closest_marker("broker_wide")] + wide


def debian_tool(command: str, package: str, *, timeout: float) -> str:
    """The path of Debian's ``command``, installing ``package`` when it is missing (``make
    test`` runs as root on Debian; the package lists are fetched when a first try fails),
    else the test is skipped with the reason."""
    found = shutil.which(command)
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["apt-get", "install", "-y", "-q", package], ["apt-get", "update", "-q"],
                     ["apt-get", "install", "-y", "-q", package]):
            subprocess.run(step, capture_output=True, timeout=timeout, check=False, env=env)
            found = shutil.which(command)
            if found is not None:
                break
    if found is None:
        pytest.skip(f"{command} is not installed and cannot be installed here "
                    f"(apt-get install {package})")
    return found


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """Debian's ``xmlsec1``, the independent XML-DSig verifier."""
    return debian_tool("xmlsec1", "xmlsec1", timeout=600)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's ``chromium``, a real browser to render the evidence page headless."""
    return debian_tool("chromium", "chromium", timeout=900)

