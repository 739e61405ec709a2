"""verzuim-adapter: the DUO machinekoppeling verzuim as a sidecar beside any SIS.

Public surface: :mod:`adapter.config` (Settings), :mod:`adapter.errors` (the
exception tree), :mod:`adapter.domain` (canonical model and DUO rules),
:mod:`adapter.hookspecs` (the plugin contract: hooks and the ``Vendor`` protocol),
:mod:`adapter.testing` (the kit for plugin authors), :mod:`adapter.duo.port` (the
port to DUO). The parts behind them, one package per role (``docs/architecture.md``):
``pipeline`` (daemon, intake, submitter, poller, health), ``vendors`` (registry,
built-in canonical vendor), ``sis`` (RabbitMQ), ``duo`` (SOAP client), ``store``,
``pki``, ``simulator``, ``commands`` (what the CLI runs). Everything else is internal.
"""

__version__ = "0.1.0"
