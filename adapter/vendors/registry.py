"""Loading vendor plugins into a :class:`VendorRegistry`.

The contract they implement (hooks and the :class:`~adapter.hookspecs.Vendor`
protocol) lives in :mod:`adapter.hookspecs`. :func:`load_vendors` builds a pluggy
``PluginManager`` for those hooks, registers the built-in ``canonical`` vendor, loads
installed plugins from the entry-point group ``verzuim_adapter`` one by one
(a plugin that fails to import is logged and skipped; it is fatal only when
the allow-list asks for a vendor it would have provided), checks that every
hook implementation matches a spec, and collects the vendors into a
:class:`VendorRegistry`.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import click
import pluggy
import structlog

from adapter import hookspecs
from adapter.domain.calendar import Calendars
from adapter.errors import ConfigError, UnknownVendor
from adapter.hookspecs import CalendarLookup, Vendor
from adapter.vendors import canonical

log = structlog.get_logger(__name__)

BUILTIN_DISTRIBUTION = "verzuim-adapter"
LOCAL_DISTRIBUTION = "local"
_VENDOR_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class VendorRegistry:
    """The vendors of one process, by name; built by :func:`load_vendors`."""

    def __init__(self, plugin_manager: pluggy.PluginManager,
                 vendors: dict[str, tuple[Vendor, str]]) -> None:
        self.plugin_manager = plugin_manager
        self._vendors = dict(vendors)

    def get(self, name: str) -> Vendor:
        """The vendor registered as ``name``; UnknownVendor otherwise (``name`` is not echoed)."""
        entry = self._vendors.get(name) if isinstance(name, str) else None
        if entry is None:
            raise UnknownVendor("no vendor plugin registered for this message")
        return entry[0]

    def names(self) -> list[str]:
        """Registered vendor names, sorted."""
        return sorted(self._vendors)

    def describe(self) -> list[tuple[str, str, str]]:
        """``(name, version, distribution)`` per vendor, sorted by name (for ``plugins``)."""
        return [(name, str(vendor.version), dist)
                for name, (vendor, dist) in sorted(self._vendors.items())]

    def register_commands(self, cli: click.Group) -> None:
        """Let every plugin add its commands to ``cli`` (hook ``adapter_register_commands``)."""
        self.plugin_manager.hook.adapter_register_commands(cli=cli)


def register_commands(cli: click.Group, registry: VendorRegistry) -> None:
    """Call ``adapter_register_commands(cli=cli)`` on the registry's plugins."""
    registry.register_commands(cli)


def _load_entry_points(pm: pluggy.PluginManager, group: str) -> dict[object, str]:
    """Register installed plugins one by one; return plugin -> distribution name.

    A plugin that fails to import is logged (entry-point name and exception
    type only) and skipped, so one broken plugin cannot take the others down.
    """
    dists: dict[object, str] = {}
    for ep in importlib.metadata.entry_points(group=group):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        dist = ep.dist.name if ep.dist is not None else LOCAL_DISTRIBUTION
        try:
            plugin = ep.load()
        except Exception as exc:  # any import-time failure of third-party code
            log.error("plugin_load_failed", entry_point=ep.name, distribution=dist,
                      error=type(exc).__name__)
            continue
        _register(pm, plugin, ep.name)
        dists[plugin] = dist
    return dists


def _register(pm: pluggy.PluginManager, plugin: object, name: str | None) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin {exc.plugin!r} does not match the hook contract: {exc}") from exc
    except ValueError as exc:  # same plugin or name registered twice
        raise ConfigError(f"plugin {name or plugin!r} is registered twice") from exc


def _local_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """A readable, unique name for a plugin registered in code (module or object)."""
    base = getattr(plugin, "__name__", None)
    if not isinstance(base, str):
        base = f"{type(plugin).__module__}.{type(plugin).__qualname__}"
    name, n = base, 1
    while pm.get_plugin(name) is not None or pm.is_blocked(name):
        n += 1
        name = f"{base}#{n}"
    return name


def load_vendors(*, enabled: Sequence[str] = (), entry_points: bool = True,
                 plugins: Sequence[object] = (),
                 config: Mapping[str, Mapping[str, Any]] | None = None,
                 calendars: CalendarLookup | None = None) -> VendorRegistry:
    """Build the vendor registry of this process.

    :param enabled: when non-empty, an allow-list of vendor names; only these
        are kept and each must be registered by some plugin (ConfigError if not).
    :param entry_points: load installed plugins from the ``verzuim_adapter``
        entry-point group (tests pass False for a deterministic set).
    :param plugins: extra plugin objects or modules to register (tests, embedding).
    :param config: per-vendor settings from ``[plugins.config.<vendor>]``, handed to
        ``adapter_register_vendors(config=...)``.
    :param calendars: the school calendar per BRIN, handed to
        ``adapter_register_vendors(calendars=...)``; the daemon passes
        ``settings.school_calendars()``. Default: one default school calendar
        (:class:`adapter.domain.calendar.Calendars`) for every BRIN.
    :raises ConfigError: a hook implementation matches no spec, two plugins
        register the same vendor name, a vendor is malformed, or an enabled
        vendor is missing.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    _register(pm, canonical, "canonical")
    dists: dict[object, str] = {canonical: BUILTIN_DISTRIBUTION}
    if entry_points:
        dists.update(_load_entry_points(pm, hookspecs.PROJECT))
    for plugin in plugins:
        _register(pm, plugin, _local_name(pm, plugin))
        dists.setdefault(plugin, LOCAL_DISTRIBUTION)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin {pm.get_name(exc.plugin)!r} implements an unknown hook: "
                          f"{exc}") from exc

    lookup = calendars if calendars is not None else Calendars()
    vendors: dict[str, tuple[Vendor, str]] = {}
    owners: dict[str, str] = {}
    ordered = list(dists)  # registration order: canonical, entry points, extras
    for plugin in ordered:
        plugin_name = pm.get_name(plugin) or repr(plugin)
        others = [p for p in ordered if p is not plugin]
        caller = pm.subset_hook_caller("adapter_register_vendors", remove_plugins=others)
        dist = dists.get(plugin, LOCAL_DISTRIBUTION)
        caller(register=_registrar(vendors, owners, plugin_name, dist),
               config=_frozen(config or {}), calendars=lookup)

    if enabled:
        missing = sorted(set(enabled) - set(vendors))
        if missing:
            raise ConfigError(f"enabled vendor(s) {', '.join(missing)} not provided by any "
                              f"installed plugin (installed: {', '.join(sorted(vendors))})")
        vendors = {name: v for name, v in vendors.items() if name in set(enabled)}
    for name, (vendor, dist) in sorted(vendors.items()):
        log.debug("vendor_registered", vendor=name, version=str(vendor.version),
                 distribution=dist, plugin=owners[name])
    return VendorRegistry(pm, vendors)


def _frozen(config: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    """Read-only view for plugins: they must not change each other's settings."""
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in config.items()})


def _registrar(vendors: dict[str, tuple[Vendor, str]], owners: dict[str, str],
               plugin_name: str, dist: str) -> Callable[[str, Vendor], None]:
    def register(name: str, vendor: Vendor) -> None:
        if not isinstance(name, str) or not _VENDOR_NAME.fullmatch(name):
            raise ConfigError(f"plugin {plugin_name!r} registered a vendor with an invalid "
                              "name (want [a-z][a-z0-9_-]*, at most 32 characters)")
        if not isinstance(vendor, Vendor) or getattr(vendor, "name", None) != name:
            raise ConfigError(f"plugin {plugin_name!r} registered vendor {name!r} with an "
                              "object that does not implement the Vendor protocol "
                              "(name, version, parse, to_duo, from_duo; name must match)")
        if name in vendors:
            raise ConfigError(f"vendor {name!r} is registered by both plugin "
                              f"{owners[name]!r} and plugin {plugin_name!r}")
        vendors[name] = (vendor, dist)
        owners[name] = plugin_name
    return register
