"""The vendors of a process: the registry that loads plugins, and the built-in
``canonical`` vendor.

Public surface::

    load_vendors(*, enabled=(), entry_points=True, plugins=(), config=None) -> VendorRegistry
    VendorRegistry.get(name) / names() / describe() / register_commands(cli)
    register_commands(cli, registry)

The contract plugins implement (hooks and the ``Vendor`` protocol) is
:mod:`adapter.hookspecs`.
"""

from adapter.vendors.registry import VendorRegistry, load_vendors, register_commands

__all__ = ["VendorRegistry", "load_vendors", "register_commands"]
