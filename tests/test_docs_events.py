"""Every log event the code emits is documented in docs/operations.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVENT_CALL = re.compile(r'(?:\blog\.(?:debug|info|warning|error|exception|critical)|'
                        r'\(log\.\w+ if [^)]*\))\(\s*"([a-z][a-z0-9_]+)"')


def emitted_events() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "adapter").rglob("*.py"):
        names.update(EVENT_CALL.findall(path.read_text(encoding="utf-8")))
    return names


def test_scanner_finds_events() -> None:
    assert {"report_registered", "message_dead_lettered", "amqp_topology_invalid"} <= emitted_events()


@pytest.mark.parametrize("event", sorted(emitted_events()))
def test_event_is_documented(event: str) -> None:
    assert f"`{event}`" in (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def test_snake_case() -> None:
    assert all(re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", e) for e in emitted_events())
