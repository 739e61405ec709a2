"""The running adapter: the daemon and the parts it wires together.

Public surface::

    Daemon(settings, *, environ=None, vendors=None, store=None)   adapter.pipeline.daemon
    Intake(settings, store, vendors, *, on_committed=..., today=...)  adapter.pipeline.intake
    Submitter(settings, store, duo, *, on_result=..., ...)        adapter.pipeline.submitter
    FeedbackPoller(store, duo, brins, *, interval, ...)           adapter.pipeline.poller
    HealthServer(host, port, readiness, gauges)                   adapter.pipeline.health
    failpoint(name), arm(names)                                   adapter.pipeline.faults

The submitter and the poller talk to DUO through :class:`adapter.duo.port.DuoPort`.
Import the parts from their modules (this package's ``__init__`` stays empty, so
importing one part does not start the others' imports).
"""
