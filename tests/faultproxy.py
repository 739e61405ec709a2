"""A TCP fault proxy for tests (style-and-reliability.md B.5): toxiproxy's taxonomy in a
few threads, no extra binary.

One :class:`FaultProxy` listens on an ephemeral loopback port and forwards every
connection to one upstream (RabbitMQ, the DUO simulator, PostgreSQL). The test
switches its mode at run time with :meth:`FaultProxy.set`:

``pass``            forward both ways
``down``            existing connections closed (FIN), new ones accepted and closed at once
``reset``           existing connections reset (RST: ``SO_LINGER`` 0), new ones reset at once
``blackhole_up``    client → upstream bytes are read and dropped (the socket stays open)
``blackhole_down``  upstream → client bytes are read and dropped
``latency``         every chunk, each way, waits ``ms`` milliseconds before it is forwarded
``cut``             a connection is reset after ``after`` bytes (both directions counted)

Threads (per connection, one per direction) are daemons and end with their sockets;
:meth:`FaultProxy.close` closes everything.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

MODES = ("pass", "down", "reset", "blackhole_up", "blackhole_down", "latency", "cut")
_TICK = 0.05


def _rst(sock: socket.socket) -> None:
    """Close ``sock`` with an RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Link:
    """One proxied connection: client socket, upstream socket, bytes forwarded."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.forwarded = 0
        self.closed = threading.Event()
        self.lock = threading.Lock()

    def close(self, *, reset: bool = False) -> None:
        with self.lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for sock in (self.client, self.upstream):
            if reset:
                _rst(sock)
            else:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


class FaultProxy:
    """A loopback TCP proxy in front of ``upstream`` (host, port) with switchable faults."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.ms = 0
        self.after = 0
        self.accepted = 0
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(_TICK * 2)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}",
                                        daemon=True)
        self._thread.start()

    # -- the test's side ----------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, mode: str, *, ms: int = 0, after: int = 0) -> None:
        """Switch to ``mode`` (see the module docstring); ``down`` and ``reset`` also end
        every existing connection, ``cut`` counts from the moment it is set."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode, self.ms, self.after = mode, ms, after
        if mode in ("down", "reset", "cut"):
            with self._lock:
                links = list(self._links)
            for link in links:
                if mode == "cut":
                    link.forwarded = 0
                else:
                    link.close(reset=mode == "reset")

    def retarget(self, host: str, port: int) -> None:
        """Send new connections to another upstream (existing ones are closed)."""
        self.upstream = (host, port)
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    def heal(self) -> None:
        self.set("pass")

    @property
    def connections(self) -> int:
        with self._lock:
            return sum(1 for link in self._links if not link.closed.is_set())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the proxy's side ---------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            mode = self.mode
            if mode == "reset":
                _rst(client)
                continue
            if mode == "down":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _rst(client)
                continue
            for sock in (client, upstream):
                sock.setblocking(True)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, upstream)
            with self._lock:
                self._links.add(link)
            for src, dst, direction in ((client, upstream, "up"), (upstream, client, "down")):
                threading.Thread(target=self._pump, args=(link, src, dst, direction),
                                 name=f"faultproxy-{self.port}-{direction}", daemon=True).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while not link.closed.is_set() and not self._stop.is_set():
                try:
                    ready, _, _ = select.select([src], [], [], _TICK)
                except (OSError, ValueError):
                    break
                if not ready:
                    continue
                try:
                    data = src.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                mode = self.mode
                if mode == f"blackhole_{direction}":
                    continue
                if mode == "latency" and self.ms:
                    time.sleep(self.ms / 1000)
                if mode == "cut":
                    room = self.after - link.forwarded
                    if room <= 0:
                        link.close(reset=True)
                        break
                    data = data[:room]
                link.forwarded += len(data)
                try:
                    dst.sendall(data)
                except OSError:
                    break
                if mode == "cut" and link.forwarded >= self.after:
                    link.close(reset=True)
                    break
        finally:
            link.close(reset=self.mode in ("reset", "cut"))
            with self._lock:
                self._links.discard(link)


@contextmanager
def fault_proxy(host: str, port: int) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` for the ``with`` block."""
    proxy = FaultProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()
