"""The DUO simulator: two-way TLS SOAP endpoint, municipality engine, control API.

It decides with its own code (reading, rules, WS-Addressing, WS-Security) and
shares only the service contract (:mod:`adapter.duo.contract`, WSDL/XSD) with the
client; ``docs/architecture.md`` ("The simulator") lists what it decides.

Public API: :class:`~adapter.simulator.server.SimulatorServer` and
:func:`~adapter.simulator.server.serve` (import from ``adapter.simulator.server``).
"""
