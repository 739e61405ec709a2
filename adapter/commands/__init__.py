"""What the operator's commands do behind :mod:`adapter.cli`: the demo and the
read-only views of the store (``status``, ``meldingen list/show``).

Public surface::

    run_demo(settings, *, timeout, root)                        adapter.commands.demo
    collect_status(settings, environ) / render_status(info)   adapter.commands.status
    render_reports(reports)                                   adapter.commands.status

``cli`` imports them when a command runs, so ``--help`` stays fast.
"""
