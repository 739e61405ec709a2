"""The DUO worker process itself (``python -m adapter.duo.worker_main``), started by
:class:`adapter.duo.worker.WorkerClient` (``duo.worker_process = true``).

Contract, the child's side of :mod:`adapter.duo.worker`:

- the file descriptors on its command line are the connections (``multiprocessing``'s
  :class:`~multiprocessing.connection.Connection`, pickled messages); the first message
  on the first is the set-up: the DUO and school settings, the TLS and signing
  identities (:func:`portable`) and the daemon's log level;
- one thread per connection, each answering one request at a time: ``(method,
  kwargs, submission)`` → ``(kind, value, exchanges, events)``, where ``kind`` is
  ``ok`` (``value`` the :class:`DuoClient` method's result) or ``error`` (``value`` its
  :mod:`adapter.errors` exception; anything else as :class:`SystemFault`), with the
  call's :class:`~adapter.duo.port.ExchangeRecord` s and its log events, held here for
  the daemon to store and to log: this process renders no log line itself;
- a client that cannot be built (ConfigError) answers every request with that error;
- it ends when the daemon closes the connections, and ignores the signals meant for
  the daemon.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import MutableMapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adapter.duo.port import ExchangeRecord, current_submission
from adapter.errors import AdapterError, SystemFault
from adapter.logging import name_native
from adapter.pki.identity import Credentials, Identity

__all__ = ["Portable", "identity_from", "main", "portable"]

Portable = tuple[tuple[bytes, ...], bytes, str]


def portable(identity: Identity) -> Portable:
    """An identity as bytes (the chain in DER, the key in PKCS#8 DER), for the child:
    handed over its socket, never written anywhere."""
    key = identity.private_key.private_bytes(serialization.Encoding.DER,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
    chain = tuple(c.public_bytes(serialization.Encoding.DER) for c in identity.chain)
    return chain, key, str(identity.source)


def identity_from(data: Portable) -> Identity:
    """The identity :func:`portable` made bytes of."""
    chain_der, key_der, source = data
    chain = tuple(x509.load_der_x509_certificate(c) for c in chain_der)
    key = serialization.load_der_private_key(key_der, password=None)
    return Identity(certificate=chain[0], chain=chain, private_key=key,  # type: ignore[arg-type]
                    source=Path(source))


_LOCAL = threading.local()


def _held() -> tuple[list[ExchangeRecord], list[tuple[str, str, Any]]]:
    if not hasattr(_LOCAL, "exchanges"):
        _LOCAL.exchanges, _LOCAL.events = [], []
    return _LOCAL.exchanges, _LOCAL.events


def _capture(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    _held()[1].append(("structlog", getattr(logger, "name", "adapter"), (method, event_dict)))
    raise structlog.DropEvent


class _Records(logging.Handler):
    """Standard-library records of a call, held for the daemon (which redacts them)."""

    def emit(self, record: logging.LogRecord) -> None:
        _held()[1].append(("logging", record.name, (record.levelno, record.getMessage())))


def _serve(conn: Connection, client: Any, failure: AdapterError | None) -> None:
    name_native()          # ``duo-worker_<n>`` in top -H and /proc, as the daemon's threads
    exchanges, events = _held()
    while True:
        try:
            method, kwargs, submission = conn.recv()
        except (EOFError, OSError):
            return
        exchanges.clear()
        events.clear()
        current_submission.set(submission)
        try:
            if failure is not None:
                raise failure
            reply: tuple[str, Any] = ("ok", getattr(client, method)(**kwargs))
        except AdapterError as exc:
            reply = ("error", exc)
        except Exception as exc:  # a bug here must not end the call without an answer
            reply = ("error", SystemFault(f"duo_worker_error ({type(exc).__name__})"))
        try:
            conn.send((*reply, list(exchanges), list(events)))
        except (OSError, ValueError):
            return
        except Exception as exc:  # a reply that cannot be pickled: the call still ends
            conn.send(("error", SystemFault(f"duo_worker_reply_not_sent ({type(exc).__name__})"),
                       list(exchanges), []))


def main(argv: Sequence[str]) -> int:
    """The child: serve the connections on file descriptors ``argv`` until the daemon
    closes them."""
    # Ctrl-C, a terminal's hang-up, or a signal meant for the daemon but sent to its
    # group or by command line (systemd's SIGTERM, `pkill -USR1 -f adapter`) must not end
    # calls in flight: the daemon ends this process by closing its connections, and an
    # ended daemon's connections close with it.
    if not argv or not all(fd.isdigit() for fd in argv):
        print("adapter.duo.worker_main is started by the daemon (duo.worker_process), "
              "with the connections it hands over; it is not a command", file=sys.stderr)
        return 2
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(signum, signal.SIG_IGN)
    name_native("duo-worker")
    from adapter.duo.client import DuoClient

    connections = [Connection(int(fd)) for fd in argv]
    structlog.configure(processors=[_capture], logger_factory=structlog.stdlib.LoggerFactory(),
                        wrapper_class=structlog.stdlib.BoundLogger,
                        cache_logger_on_first_use=False)
    try:
        duo, school, schools, tls, signing, level = connections[0].recv()
    except (EOFError, OSError):         # the daemon was gone before it said anything
        return 0
    root = logging.getLogger()
    root.handlers[:] = [_Records()]
    root.setLevel(level)
    client: Any = None
    failure: AdapterError | None = None
    try:
        tls_identity = identity_from(tls)
        credentials = Credentials(tls=tls_identity, signing=(
            tls_identity if signing == tls else identity_from(signing)))
        client = DuoClient(duo, school, schools=schools, credentials=credentials,
                           exchange_sink=lambda exchange: _held()[0].append(exchange))
    except AdapterError as exc:
        failure = exc
    threads = [threading.Thread(target=_serve, args=(conn, client, failure),
                                name=f"duo-worker_{i}", daemon=True)
               for i, conn in enumerate(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
