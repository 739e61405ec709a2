"""The house: role packages, contracts at the leaves, no import circles inside ``adapter/``.

The import graph is read with :mod:`ast` from the source, every import counted:
module level, inside functions, and under ``if TYPE_CHECKING:``. The one
exception is a package's ``__init__`` naming its own members (its public face).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "adapter"

#: The face of the package: what may sit directly under adapter/ (at most eight).
LOOSE_LIMIT = 8


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")
            if "migrations" not in p.parts}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every ``adapter`` module ``path`` imports, wherever the import statement sits."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    if is_package:   # a package's face naming its own members is not a dependency
        found = {t for t in found if not t.startswith(name + ".")}
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_inside_adapter() -> None:
    assert cycles(graph()) == []


def test_the_circle_finder_sees_function_local_and_type_checking_imports(
        tmp_path: Path) -> None:
    """The checker itself: a circle hidden in a function and under TYPE_CHECKING is found."""
    a = tmp_path / "a.py"
    b = tmp_path / "b.py"
    a.write_text("def f():\n    from adapter.b import g\n")
    b.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import adapter.a\n")
    known = {"adapter.a", "adapter.b"}
    edges = {"adapter.a": imports_of("adapter.a", a, known),
             "adapter.b": imports_of("adapter.b", b, known)}
    assert cycles(edges) == [["adapter.a", "adapter.b"]]


def test_at_most_eight_modules_directly_under_adapter() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= LOOSE_LIMIT, loose


@pytest.mark.parametrize(("leaf", "allowed"), [
    ("adapter.hookspecs", {"adapter.domain.model"}),          # the plugin contract
    ("adapter.sis.delivery", set()),                            # the AMQP delivery type
    ("adapter.duo.wsse_profile", {"adapter.duo.contract"}),     # WS-Security profile
    ("adapter.duo.port", {"adapter.domain.model"}),             # the port to DUO
    ("adapter.backoff", set()),
])
def test_contracts_are_leaves(leaf: str, allowed: set[str]) -> None:
    assert graph()[leaf] <= allowed


def test_the_duo_side_does_not_import_the_store() -> None:
    edges = graph()
    offenders = {m: sorted(t for t in deps if t.startswith("adapter.store"))
                 for m, deps in edges.items() if m.startswith("adapter.duo")}
    assert {m: t for m, t in offenders.items() if t} == {}


@pytest.mark.parametrize("module", ["adapter.pipeline.intake", "adapter.sis.delivery",
                                    "adapter.testing.factories"])
def test_describing_a_delivery_needs_no_pika(module: str) -> None:
    code = f"import sys, {module}; print('pika' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=60).stdout.strip()
    assert out == "False"


def test_the_pipeline_talks_to_duo_through_the_port() -> None:
    edges = graph()
    for part in ("adapter.pipeline.submitter", "adapter.pipeline.poller"):
        assert "adapter.duo.client" not in edges[part]
        assert "adapter.duo.port" in edges[part]
