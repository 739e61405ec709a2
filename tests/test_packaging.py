"""The image and the wheel carry what the daemon needs (no Docker engine here)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def final_stage(dockerfile: str) -> list[str]:
    stages = dockerfile.split("\nFROM ")
    return [line.strip() for line in stages[-1].splitlines() if line.strip()]


def test_dockerfile_runtime_stage_is_lean_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stage = final_stage(text)
    users = [line for line in stage if line.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    assert any(line.startswith("HEALTHCHECK") for line in stage)
    runtime = " ".join(stage)
    for tool in ("gcc", "build-essential", "apt-get install", "git "):
        assert tool not in runtime
    assert "--no-index" in runtime  # only the wheels built in the first stage
    assert "verify=False" not in text
    for plugin in sorted((ROOT / "plugins").glob("*/setup.cfg")):
        assert f"./plugins/{plugin.parent.name}" in text, f"{plugin.parent.name} not in the image"


def test_the_build_context_leaves_out_the_virtualenv_bytecode_and_keys() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", "**/__pycache__", "*.key", "*.db"} <= ignored
    for copied in ("adapter", "plugins", "config", "setup.cfg", "pyproject.toml", "README.md"):
        assert copied not in ignored


@pytest.mark.timeout(300)
def test_wheel_contains_wsdl_migrations_and_type_marker(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, timeout=280,
                   capture_output=True)
    [wheel] = tmp_path.glob("verzuim_adapter-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("adapter/py.typed", "adapter/duo/wsdl/verzuim.wsdl",
                     "adapter/duo/wsdl/verzuim.xsd", "adapter/store/migrations/env.py",
                     "adapter/domain/data/schoolvakanties.toml"):
        assert required in names, required
    assert any(n.startswith("adapter/store/migrations/versions/") and n.endswith(".py")
               for n in names)
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "verzuim-adapter = adapter.startup:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
