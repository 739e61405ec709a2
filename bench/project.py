"""What a bench script needs before it starts, as ``make run`` and ``make test`` see to it.

- :func:`use_venv`: the project's packages. Run by another Python (``python
  bench/e2e.py`` outside the virtualenv), the script starts again under
  ``.venv/bin/python``, after ``make venv`` when there is no virtualenv yet (a line on
  stderr says so). A Python that has the packages already (an activated virtualenv, a
  CI's own) runs the script itself.
- :func:`use_broker`: a RabbitMQ on the bench's AMQP URL. When none answers on this
  machine's default port, ``scripts/services.sh`` installs or starts one (Debian's
  package, as for ``make test``) and leaves it running; on another host or port the
  script ends with one line.

Both must run before the script imports a third-party package.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
#: what every bench script imports besides the standard library and the checkout
NEEDED = ("pika", "sqlalchemy", "zeep", "structlog", "verzuim_eduarte", "verzuim_magister")
LOCAL = ("127.0.0.1", "localhost", "::1")


def missing() -> list[str]:
    """The packages of :data:`NEEDED` this Python cannot import."""
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def use_venv() -> None:
    """Return when this Python has the project's packages; else run the script again
    under the project's virtualenv (made first when missing), or exit with one line."""
    lacking = missing()
    if not lacking:
        return
    script = Path(sys.argv[0]).name
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        sys.exit(f"{script}: the virtualenv {VENV} lacks {', '.join(lacking)}: "
                 "run `make clean venv`")
    if not python.exists():
        print(f"{script}: no virtualenv yet: making one (make venv), about a minute",
              file=sys.stderr, flush=True)
        done = subprocess.run(["make", "-C", str(ROOT), "venv"], stdout=sys.stderr,
                              check=False)
        if done.returncode != 0 or not python.exists():
            sys.exit(f"{script}: `make venv` failed (exit {done.returncode}); see above")
    os.execv(python, [str(python), *sys.argv])


def answers(host: str, port: int, timeout: float = 3.0) -> bool:
    """True when an AMQP broker answers on (host, port): it replies to AMQP 0-9-1's
    protocol header with a method frame (``Connection.Start``). A bare TCP accept is not
    enough: some networks accept a connection to any address."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"
    except OSError:
        return False


def use_broker(url: str) -> None:
    """Return when the broker of ``url`` answers; start a local one
    (``scripts/services.sh``, left running afterwards), or exit with one line naming host
    and port."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    if answers(host, port):
        return
    script = Path(sys.argv[0]).name
    if host not in LOCAL or port != 5672:   # scripts/services.sh starts Debian's default
        sys.exit(f"{script}: no AMQP broker answers on {host}:{port} (--amqp)")
    print(f"{script}: no broker answers on {host}:{port}: starting one (scripts/services.sh)",
          file=sys.stderr, flush=True)
    # the broker stays up after the bench: no state file for `make run` to stop it by
    env = {**os.environ, "AMQP_HOST": host, "AMQP_PORT": str(port), "STATE_FILE": os.devnull}
    done = subprocess.run([str(ROOT / "scripts" / "services.sh")], cwd=ROOT, env=env,
                          stdout=sys.stderr, check=False)
    if done.returncode != 0 or not answers(host, port):
        sys.exit(f"{script}: could not start a broker on {host}:{port}; see above")
