"""The DUO calls in a process of their own (``duo.worker_process = true``).

Why: a DUO call is CPU work (building and signing the envelope, the two-way TLS
handshake, checking the signed answer), and in the daemon's process it competes for
the interpreter lock with the pipeline around it (intake, outcomes, relay, poller).
In a child process it has a lock of its own; the price is the child's memory
(docs/performance.md, round 21).

Contract of :class:`WorkerClient` (a :class:`~adapter.duo.port.DuoPort`):

- one child process (``python -m adapter.duo.worker_main``), started by the first
  call and again by the first call after it ended; it holds one :class:`DuoClient`
  built from the same settings and the credentials the daemon loaded (handed over a
  private socket, never through the disk, the environment or the command line; the
  passphrase's variable is left out of its environment), and serves
  ``duo.max_concurrency + 2`` connections, one thread each: the submitter's slots,
  the feedback poller and the attachment sender;
- each operation is the child's :class:`DuoClient` operation, with the calling
  context's :data:`~adapter.duo.port.current_submission`; its exchanges are handed to
  ``exchange_sink`` in the caller's thread before the method returns or raises, and
  its log events are emitted in the caller's thread (so with its bound context,
  through the daemon's redaction and renderer); its :mod:`adapter.errors` exception
  is raised as the child raised it;
- the daemon waits at most ``connect_timeout + read_timeout +`` :data:`WAIT_MARGIN`
  seconds for an answer. When the child ends or does not answer in time, a mutating
  call in flight raises :class:`OutcomeUnknown` (the request may have reached DUO:
  reconcile), a look-up :class:`TransientError`, and a call that never reached the
  child :class:`TransientError`; the child is stopped and a new one is started;
- :meth:`close` (or the client being collected) ends the child.

Messages between the two processes are pickled: both ends are this package, over a
socket pair only they hold.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from queue import LifoQueue
from typing import Any

import structlog

from adapter.config import DuoSettings, SchoolSettings
from adapter.domain.model import Terugmelding, Verzuimmelding
from adapter.duo import contract
from adapter.duo.port import ChangesPage, ExchangeRecord, SubmitResult, current_submission
from adapter.duo.worker_main import portable
from adapter.errors import OutcomeUnknown, SystemFault, TransientError
from adapter.pki.identity import Credentials

__all__ = ["WAIT_MARGIN", "WorkerClient"]

log = structlog.get_logger(__name__)

#: Seconds the daemon waits for the child beyond the call's own two timeouts.
WAIT_MARGIN = 10.0
#: Seconds :meth:`WorkerClient.close` gives the child to end before it is killed.
STOP_SECONDS = 5.0


class _Child:
    """One running child: its process and the daemon's ends of its connections."""

    def __init__(self, setup: tuple[Any, ...], connections: int,
                 hidden: str | None = None) -> None:
        """``hidden``: an environment variable the child must not see (the key's
        passphrase: it receives the key itself)."""
        pairs = [socket.socketpair() for _ in range(connections)]
        fds = [theirs.fileno() for _, theirs in pairs]
        # The child imports this package from where the daemon did.
        root = str(Path(__file__).resolve().parents[2])
        env = {name: value for name, value in os.environ.items() if name != hidden}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "adapter.duo.worker_main", *map(str, fds)],
                pass_fds=fds, stdin=subprocess.DEVNULL, env=env)
        except OSError as exc:
            for pair in pairs:
                for end in pair:
                    end.close()
            raise SystemFault(f"duo_worker_not_started ({type(exc).__name__})") from None
        self.connections = [Connection(ours.detach()) for ours, _ in pairs]
        for _, theirs in pairs:
            theirs.close()
        self.free: LifoQueue[Connection] = LifoQueue()
        self.connections[0].send(setup)       # buffered: the daemon does not wait for it
        for conn in self.connections:
            self.free.put(conn)
        self.broken = False

    def alive(self) -> bool:
        return not self.broken and self.process.poll() is None

    def stop(self, wait: float = 0.0) -> None:
        """Close the daemon's ends (the child ends on EOF); kill it after ``wait``."""
        self.broken = True
        for conn in self.connections:
            conn.close()
        try:
            self.process.wait(wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _stop_child(holder: list[_Child | None]) -> None:
    if holder[0] is not None:
        holder[0].stop(STOP_SECONDS)


class WorkerClient:
    """Every DUO call made by a :class:`DuoClient` in a child process (the module's
    contract). Thread-safe; as many calls at a time as it has connections."""

    def __init__(self, duo: DuoSettings, school: SchoolSettings, *,
                 schools: Sequence[SchoolSettings] = (), credentials: Credentials,
                 exchange_sink: Callable[[ExchangeRecord], None] | None = None) -> None:
        """The child is started by the first call, which waits for it to be ready (about
        a second: it imports zeep and reads the WSDL), so the daemon's start-up does not.
        The settings and ``credentials`` are checked by the caller
        (:func:`adapter.duo.client.check_settings`)."""
        self._oins = {s.brin: s.oin for s in (school, *schools)}
        self._default_oin = school.oin
        self._sink = exchange_sink
        self._setup = (duo, school, tuple(schools), portable(credentials.tls),
                       portable(credentials.signing), logging.getLogger().getEffectiveLevel())
        self._connections = duo.max_concurrency + 2
        self._passphrase_env = duo.key_passphrase_env
        self._timeouts = duo.connect_timeout + duo.read_timeout
        self._lock = threading.Lock()
        self._holder: list[_Child | None] = [None]
        self._closed = False
        self._finalizer = weakref.finalize(self, _stop_child, self._holder)

    def _child(self) -> _Child:
        with self._lock:
            if self._closed:
                raise SystemFault("duo_worker_closed")
            child = self._holder[0]
            if child is None or not child.alive():
                if child is not None and not child.broken:   # (else stopped and said)
                    child.stop()
                    log.warning("duo_worker_ended", exit_code=child.process.returncode)
                child = self._holder[0] = _Child(self._setup, self._connections,
                                                 hidden=self._passphrase_env)
                log.info("duo_worker_started", pid=child.process.pid,
                         connections=self._connections)
            return child

    def _lost(self, child: _Child, conn: Connection) -> None:
        """The child is no longer believed: stop it (the next call starts another), and
        give ``conn`` back, so that a call waiting for one of its connections moves on."""
        with self._lock:
            if not child.broken:
                child.stop()
                log.warning("duo_worker_ended", exit_code=child.process.returncode)
        child.free.put(conn)

    def _checkout(self) -> tuple[_Child, Connection]:
        """A free connection of the running child (started if need be)."""
        while True:
            child = self._child()
            conn = child.free.get()
            if not child.broken:
                return child, conn
            child.free.put(conn)            # the next one waiting on that child moves on too

    def _run(self, operation: str, method: str, **kwargs: Any) -> Any:
        child, conn = self._checkout()
        try:
            conn.send((method, kwargs, current_submission.get()))
        except (OSError, ValueError):       # the child is gone: nothing reached DUO
            self._lost(child, conn)
            raise TransientError("duo_worker_ended") from None
        try:
            if not conn.poll(self._timeouts + WAIT_MARGIN):
                raise TimeoutError
            kind, value, exchanges, events = conn.recv()
        except (OSError, EOFError, ValueError, TimeoutError) as exc:
            self._lost(child, conn)
            reason = ("duo_worker_timeout" if isinstance(exc, TimeoutError)
                      else "duo_worker_ended")
            if operation in contract.MUTATING:
                raise OutcomeUnknown(reason) from None
            raise TransientError(reason) from None
        child.free.put(conn)
        _emit(events)
        if self._sink is not None:
            for exchange in exchanges:
                self._sink(exchange)
        if kind == "error":
            raise value
        return value

    # ---- DuoPort -----------------------------------------------------------------

    def from_oin(self, sender_brin: str) -> str:
        """The OIN in ``wsa:From`` for a call sent by ``sender_brin``."""
        return self._oins.get(sender_brin, self._default_oin)

    def aanleveren(self, melding: Verzuimmelding, *, document_id: str) -> SubmitResult:
        result: SubmitResult = self._run(contract.AANLEVEREN, "aanleveren", melding=melding,
                                         document_id=document_id)
        return result

    def wijzigen(self, melding: Verzuimmelding, *, meldingsnummer: str, document_id: str,
                 laatste_mutatie: datetime | None = None) -> SubmitResult:
        result: SubmitResult = self._run(
            contract.WIJZIGEN, "wijzigen", melding=melding, meldingsnummer=meldingsnummer,
            document_id=document_id, laatste_mutatie=laatste_mutatie)
        return result

    def intrekken(self, melding: Verzuimmelding, *, meldingsnummer: str,
                  document_id: str, laatste_mutatie: datetime | None = None) -> SubmitResult:
        result: SubmitResult = self._run(
            contract.INTREKKEN, "intrekken", melding=melding, meldingsnummer=meldingsnummer,
            document_id=document_id, laatste_mutatie=laatste_mutatie)
        return result

    def opvragen(self, *, brin: str, document_id: str | None = None,
                 meldingsnummer: str | None = None) -> Terugmelding | None:
        if (document_id is None) == (meldingsnummer is None):
            raise ValueError("give exactly one of document_id and meldingsnummer")
        result: Terugmelding | None = self._run(
            contract.OPVRAGEN, "opvragen", brin=brin, document_id=document_id,
            meldingsnummer=meldingsnummer)
        return result

    def opvragen_gewijzigd(self, *, brin: str, since: datetime | None) -> ChangesPage:
        result: ChangesPage = self._run(contract.OPVRAGEN_GEWIJZIGD, "opvragen_gewijzigd",
                                        brin=brin, since=since)
        return result

    def aanleveren_bijlage(self, *, brin: str, meldingsnummer: str, bestandsnaam: str,
                           mime_type: str, inhoud: bytes, document_id: str) -> str | None:
        result: str | None = self._run(
            contract.AANLEVEREN_BIJLAGE, "aanleveren_bijlage", brin=brin,
            meldingsnummer=meldingsnummer, bestandsnaam=bestandsnaam, mime_type=mime_type,
            inhoud=inhoud, document_id=document_id)
        return result

    def close(self) -> None:
        """End the child (after its calls in flight, at most :data:`STOP_SECONDS`)."""
        with self._lock:
            self._closed = True
        self._finalizer()

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before the first start or after close)."""
        child = self._holder[0]
        return child.process.pid if child is not None and child.alive() else None


def _emit(events: list[tuple[str, str, Any]]) -> None:
    """The child's log events, in this thread: ``structlog`` ones as events of their own
    logger, standard-library records as records of theirs."""
    for kind, name, payload in events:
        if kind == "structlog":
            method, event_dict = payload
            method = method if method in ("debug", "info", "warning", "error") else "error"
            getattr(structlog.get_logger(name), method)(**event_dict)
        else:
            level, message = payload
            logging.getLogger(name).log(level, "%s", message)
