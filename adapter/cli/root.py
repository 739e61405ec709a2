"""The root of the command line: the ``verzuim-adapter`` group and what every command
shares (one-line errors, the configuration read once, logging set-up, ``--config``
accepted after any command). The commands themselves live in the sibling modules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from adapter import __version__, startup
from adapter.config import Settings, load_settings
from adapter.errors import AdapterError, ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(fn: F) -> F:
    """Turn our errors into one line on stderr (exit 2 for config, 1 otherwise)."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except AdapterError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


def settings_from(ctx: click.Context) -> Settings:
    """Load the configuration once per invocation (``--config`` or VERZUIM_CONFIG)."""
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config_path"))
    settings: Settings = obj["settings"]
    return settings


def setup_logging(settings: Settings) -> None:
    from adapter.logging import configure_logging
    configure_logging(settings.logging.level, settings.logging.format)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="verzuim-adapter")
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="VERZUIM_CONFIG",
              help="TOML configuration file (env VERZUIM_CONFIG). Defaults apply without one.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """verzuim-adapter: the DUO machinekoppeling verzuim as a sidecar beside your SIS."""
    ctx.ensure_object(dict)["config_path"] = config_path
    if ctx.invoked_subcommand != "run":
        startup.release()   # only the daemon takes over a stop signal held at start


def _set_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_root().ensure_object(dict)["config_path"] = value


def accept_config_everywhere(group: click.Group) -> None:
    """Let ``--config`` follow any command too (``meldingen list --json --config F``).

    Operators paste a command and add the file at the end; a global-only option
    would then fail with "No such option". Idempotent (plugin commands are added
    later, so :func:`main` runs it again)."""
    for command in group.commands.values():
        if not any(p.name == "config_path" for p in command.params):
            command.params.append(click.Option(
                ["--config", "config_path"], type=click.Path(path_type=Path),
                expose_value=False, callback=_set_config,
                help="TOML configuration file (as the global --config)."))
        if isinstance(command, click.Group):
            accept_config_everywhere(command)
