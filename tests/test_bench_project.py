"""bench/project.py: a bench script run by a Python without the project's packages runs
under the project's virtualenv; a broker that does not answer ends it with one line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

pytestmark = pytest.mark.timeout(120)


def bare_python() -> list[str]:
    """The interpreter the virtualenv was made from, without its site-packages (``-S``):
    a Python that cannot import pika or the plugins."""
    return [str(Path(sys.base_prefix) / "bin" / "python3"), "-S"]


@pytest.fixture(scope="module")
def bare() -> list[str]:
    """:func:`bare_python`, checked once: it must lack the packages for the test to
    mean anything."""
    probe = subprocess.run([*bare_python(), "-c", "import pika"], capture_output=True,
                           check=False, timeout=30)
    assert probe.returncode != 0
    return bare_python()


@pytest.mark.skipif(not VENV_PYTHON.exists(), reason="no .venv in this checkout (make venv)")
@pytest.mark.parametrize("script", ["e2e.py", "start.py", "poll.py", "intake.py",
                                    "eduarte_parse.py", "magister_memory.py"])
def test_a_bench_script_outside_the_virtualenv_runs_in_it(script: str, bare: list[str]) -> None:
    done = subprocess.run([*bare, str(ROOT / "bench" / script), "--help"],
                          capture_output=True, text=True, check=False, timeout=90, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"usage: {script}")


def test_no_broker_on_the_url_is_one_line() -> None:
    with socket.socket() as sock:                 # a local port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "start.py"), "--starts", "1",
                           "--amqp", f"amqp://guest:guest@127.0.0.1:{port}/%2F"],
                          capture_output=True, text=True, check=False, timeout=60, cwd=ROOT)
    assert done.returncode == 1
    assert done.stderr == f"start.py: no AMQP broker answers on 127.0.0.1:{port} (--amqp)\n"
    assert done.stdout == ""
