"""verzuim-adapter: the DUO machinekoppeling verzuim as a sidecar beside any SIS.

Public surface: :mod:`adapter.config` (Settings), :mod:`adapter.errors` (the
exception tree), :mod:`adapter.domain` (canonical model and DUO rules),
:mod:`adapter.hookspecs` (the plugin contract), :mod:`adapter.testing` (kit for
plugin authors). Everything else is internal.
"""

__version__ = "0.1.0"
