"""The DUO simulator: two-way TLS SOAP endpoint, municipality engine, control API.

Public API: :class:`~adapter.simulator.server.SimulatorServer` and
:func:`~adapter.simulator.server.serve` (import from ``adapter.simulator.server``).
"""
