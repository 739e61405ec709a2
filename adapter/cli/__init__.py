"""Command line: ``verzuim-adapter`` (also ``python -m adapter``).

Every command has ``--help``; errors are one line on stderr and a non-zero exit,
never a traceback. Configuration is read once (:func:`settings_from`) and passed
down. The root group and what the commands share are in :mod:`adapter.cli.root`;
the commands, by role: :mod:`~adapter.cli.service` (run, simulator, publish,
status, plugins, demo), :mod:`~adapter.cli.certificates` (pki, cert),
:mod:`~adapter.cli.reports` (meldingen, signalen), :mod:`~adapter.cli.upkeep`
(archive, replay, incident).
"""

from __future__ import annotations

import faulthandler
import os
import sys

from adapter.cli import certificates, reports, service, upkeep  # noqa: F401 - they register
from adapter.cli.root import accept_config_everywhere, cli, settings_from
from adapter.errors import AdapterError

__all__ = ["accept_config_everywhere", "cli", "main", "settings_from"]


def main() -> None:
    """Console-script entry point."""
    # A crash inside a C extension (TLS, XML, database driver) must leave a
    # Python traceback on stderr rather than a bare exit code.
    faulthandler.enable()
    from adapter.pipeline import faults
    faults.arm(os.environ.get("VERZUIM_FAILPOINTS", "").split(","))  # crash tests only
    from adapter.logging import configure_logging
    # Until a command configures logging from its settings, only warnings reach
    # stderr, so plugin loading cannot clutter a command's own output.
    configure_logging("warning", "console", stream=sys.stderr)
    try:
        from adapter.vendors import load_vendors, register_commands
        register_commands(cli, load_vendors())
    except AdapterError:  # a broken plugin set-up: `plugins` and `run` report it in full
        pass
    accept_config_everywhere(cli)
    cli(prog_name="verzuim-adapter")


accept_config_everywhere(cli)  # the built-in commands; main() adds the plugins' commands
