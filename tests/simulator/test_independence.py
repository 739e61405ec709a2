"""The simulator decides with its own code: it shares only the service contract with the client.

Read with :mod:`ast` from the source, every import counted (module level, inside
functions, under ``if TYPE_CHECKING:``), relative imports resolved.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = ROOT / "adapter" / "simulator"

#: The client's own decisions: its rules, its codec, its whole DUO stack.
FORBIDDEN = ("adapter.domain.rules", "adapter.domain.codec", "adapter.duo")
#: The one part of adapter.duo the two sides share: names, codes, WSDL/XSD.
SHARED = ("adapter.duo.contract",)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, as dotted names (``from a import b`` gives a and a.b)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    return imported_by(path.read_text(encoding="utf-8"), package)


def imported_by(source: str, package: str) -> set[str]:
    """:func:`imported` of source text sitting in ``package``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[:len(parts) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def violations(name: str) -> list[str]:
    return [name for prefix in FORBIDDEN
            if (name == prefix or name.startswith(prefix + "."))
            and not any(name == s or name.startswith(s + ".") for s in SHARED)
            and not (prefix == "adapter.duo" and name == "adapter.duo")]


@pytest.mark.parametrize("path", sorted(SIMULATOR.rglob("*.py")),
                         ids=lambda p: p.relative_to(SIMULATOR).as_posix())
def test_simulator_module_imports_nothing_of_the_clients_decisions(path: Path) -> None:
    bad = sorted({v for name in imported(path) for v in violations(name)})
    assert bad == [], f"{path.name} imports {bad}"


def test_the_checker_sees_what_it_must() -> None:
    """The test's own parser catches the forms a violation can take."""
    source = ("import adapter.duo.wsse\nfrom adapter.duo import contract, mapping\n"
              "def f():\n    from adapter.domain.rules import check_melding\n"
              "from ..duo.addressing import wsa_headers\n")
    names = imported_by(source, "adapter.simulator")
    bad = {v for name in names for v in violations(name)}
    assert bad == {"adapter.duo.wsse", "adapter.duo.mapping", "adapter.domain.rules",
                   "adapter.domain.rules.check_melding", "adapter.duo.addressing",
                   "adapter.duo.addressing.wsa_headers"}


def test_request_signatures_are_verified_by_signxml_not_by_our_verifier() -> None:
    names = imported(SIMULATOR / "signature.py")
    assert any(n == "signxml" or n.startswith("signxml.") for n in names)
    assert not any(n.startswith("adapter.duo.wsse") for n in names)
