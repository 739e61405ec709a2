"""The plugin contract: hook docs, loading, duplicates, allow-list, check_pending, entry points."""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import click
import click.testing
import pluggy
import pytest

from adapter import hookspecs
from adapter.vendors import canonical
from adapter.errors import ConfigError, UnknownVendor
from adapter.hookspecs import Vendor, hookimpl
from adapter.vendors import load_vendors, register_commands

ROOT = Path(__file__).resolve().parents[2]


class FakeVendor:
    version = "9.9"

    def __init__(self, name: str) -> None:
        self.name = name

    def parse(self, body: bytes, *, content_type: str | None) -> list[object]:
        return []

    def to_duo(self, records: Any) -> list[Any]:
        return []

    def from_duo(self, event: Any) -> tuple[bytes, str]:
        return b"", "text/plain"


class Provides:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def adapter_register_vendors(self, register: Any) -> None:
        for name in self.names:
            register(name, FakeVendor(name))


def test_every_hookspec_is_documented() -> None:
    docs = (ROOT / "docs" / "plugin-hooks.md").read_text()
    hooks = [(n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if n.startswith("adapter_")]
    assert {n for n, _ in hooks} >= {"adapter_register_vendors", "adapter_register_commands"}
    for name, func in hooks:
        args = ", ".join(inspect.signature(func).parameters)
        assert f"\n## {name}({args})\n" in docs, f"docs/plugin-hooks.md lacks ## {name}({args})"
        assert func.__doc__ and "When called" in func.__doc__ and "must not" in func.__doc__


def test_documented_hooks_exist() -> None:
    docs = (ROOT / "docs" / "plugin-hooks.md").read_text()
    for name in re.findall(r"^## (adapter_\w+)\(", docs, re.M):
        assert hasattr(hookspecs, name)


def test_builtin_canonical_is_registered() -> None:
    registry = load_vendors(entry_points=False)
    assert registry.names() == ["canonical"]
    vendor = registry.get("canonical")
    assert vendor is canonical.VENDOR and isinstance(vendor, Vendor)
    assert registry.describe() == [("canonical", "0.1.0", "verzuim-adapter")]


def test_unknown_vendor_does_not_echo_input() -> None:
    registry = load_vendors(entry_points=False)
    with pytest.raises(UnknownVendor) as err:
        registry.get("999990019-secret")
    assert str(err.value) == "no vendor plugin registered for this message"


def test_extra_plugins_and_describe() -> None:
    registry = load_vendors(entry_points=False, plugins=[Provides("alpha", "beta")])
    assert registry.names() == ["alpha", "beta", "canonical"]
    assert ("alpha", "9.9", "local") in registry.describe()


def test_duplicate_vendor_names_both_plugins() -> None:
    with pytest.raises(ConfigError, match=r"'canonical'.*both plugin 'canonical' and plugin"):
        load_vendors(entry_points=False, plugins=[Provides("canonical")])
    first, second = Provides("gamma"), Provides("gamma")
    with pytest.raises(ConfigError, match="registered by both plugin") as err:
        load_vendors(entry_points=False, plugins=[first, second])
    assert "Provides'" in str(err.value) and "Provides#2'" in str(err.value)


def test_allow_list() -> None:
    registry = load_vendors(entry_points=False, enabled=["alpha"],
                            plugins=[Provides("alpha", "beta")])
    assert registry.names() == ["alpha"]
    with pytest.raises(UnknownVendor):
        registry.get("canonical")
    with pytest.raises(ConfigError, match="delta"):
        load_vendors(entry_points=False, enabled=["alpha", "delta"],
                     plugins=[Provides("alpha")])


def test_misspelt_hookimpl_fails_check_pending() -> None:
    class Misspelt:
        @hookimpl
        def adapter_register_vendor(self, register: Any) -> None:  # missing "s"
            raise AssertionError("never called")

    with pytest.raises(ConfigError, match="unknown hook") as err:
        load_vendors(entry_points=False, plugins=[Misspelt()])
    assert isinstance(err.value.__cause__, pluggy.PluginValidationError)


def test_misspelt_hook_argument_fails() -> None:
    class WrongArg:
        @hookimpl
        def adapter_register_vendors(self, registr: Any) -> None:
            raise AssertionError("never called")

    with pytest.raises(ConfigError, match="hook contract"):
        load_vendors(entry_points=False, plugins=[WrongArg()])


@pytest.mark.parametrize("name,vendor", [
    ("Bad.Name", FakeVendor("Bad.Name")), ("mismatch", FakeVendor("other")),
    ("notavendor", object()),
])
def test_malformed_vendor_registration(name: str, vendor: object) -> None:
    class Bad:
        @hookimpl
        def adapter_register_vendors(self, register: Any) -> None:
            register(name, vendor)

    with pytest.raises(ConfigError):
        load_vendors(entry_points=False, plugins=[Bad()])


def test_register_commands() -> None:
    class WithCommand:
        @hookimpl
        def adapter_register_commands(self, cli: click.Group) -> None:
            @cli.command("fake-hello")
            def hello() -> None:
                click.echo("hello from plugin")

    group = click.Group("verzuim-adapter")
    register_commands(group, load_vendors(entry_points=False, plugins=[WithCommand()]))
    result = click.testing.CliRunner().invoke(group, ["fake-hello"])
    assert result.exit_code == 0 and result.output == "hello from plugin\n"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two fake distributions on sys.path: one working plugin and one that fails to import."""
    (tmp_path / "fakevendor_ok.py").write_text(textwrap.dedent("""
        from adapter.hookspecs import hookimpl
        from tests.plugins.test_registry import FakeVendor

        @hookimpl
        def adapter_register_vendors(register):
            register("fakeok", FakeVendor("fakeok"))
    """))
    (tmp_path / "fakevendor_broken.py").write_text("raise RuntimeError('boom at import')\n")
    for dist, module in (("fakevendor_ok", "fakevendor_ok"), ("fakevendor_broken",
                                                              "fakevendor_broken")):
        info = tmp_path / f"{dist}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[verzuim_adapter]\n{dist} = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in ("fakevendor_ok", "fakevendor_broken"):
        sys.modules.pop(module, None)


def test_entry_points_load_one_by_one(installed: Path) -> None:
    registry = load_vendors(enabled=["fakeok", "canonical"])
    assert registry.names() == ["canonical", "fakeok"]
    assert ("fakeok", "9.9", "fakevendor_ok") in registry.describe()
    # the broken plugin was skipped, not fatal; asking for a vendor nobody provides is
    with pytest.raises(ConfigError, match="fakebroken"):
        load_vendors(enabled=["fakebroken"])
