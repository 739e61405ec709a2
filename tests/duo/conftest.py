"""Fixtures for the DUO client tests: a test PKI, the real simulator over two-way TLS."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapter.config import DuoSettings, SchoolSettings
from adapter.domain.model import Melder, Student, Verzuimdag, Verzuimmelding, Verzuimsoort
from adapter.duo.client import DuoClient
from adapter.duo.worker import WorkerClient
from adapter.pki.identity import load_credentials
from adapter.simulator.server import SimulatorServer
from adapter.store.api import ExchangeRecord

from support import SCHOOL_OIN, TODAY, control, fixed_today, valid_bsn  # noqa: F401 - re-exported

BRIN = "00AA"
BSN = "123456782"          # passes the 11-proef; fictional
OLD_BSN = "111222333"      # passes the 11-proef; 30 years old in the simulator's ROD


@pytest.fixture()
def simulator(pki_dir: Path) -> Iterator[SimulatorServer]:
    # Engine off: tests drive statuses through the control API.
    with SimulatorServer(pki_dir, port=0, control_port=0, delay_behandeling=None,
                         delay_afgesloten=None, today=fixed_today) as sim:
        yield sim


def duo_settings(pki_dir: Path, url: str, **overrides: Any) -> DuoSettings:
    values: dict[str, Any] = {
        "url": url, "ca_bundle": pki_dir / "trust-bundle.pem",
        "client_cert": pki_dir / "school.pem", "client_key": pki_dir / "school-key.pem",
        "signature_cert": pki_dir / "duo.pem", "connect_timeout": 2.0, "read_timeout": 5.0,
    }
    values.update(overrides)
    return DuoSettings(**values)


@pytest.fixture()
def exchanges() -> list[ExchangeRecord]:
    return []


@pytest.fixture()
def make_client(pki_dir: Path, simulator: SimulatorServer, exchanges: list[ExchangeRecord]
                ) -> Iterator[Callable[..., Any]]:
    """Builds a :class:`DuoClient` (with ``worker=True``: a :class:`WorkerClient`, the same
    calls in a child process) against the simulator; closed after the test."""
    made: list[DuoClient | WorkerClient] = []

    def make(url: str | None = None, school_oin: str = SCHOOL_OIN,
             schools: tuple[SchoolSettings, ...] = (), *, worker: bool = False,
             **overrides: Any) -> DuoClient | WorkerClient:
        duo = duo_settings(pki_dir, url or simulator.soap_url, **overrides)
        kind = WorkerClient if worker else DuoClient
        client = kind(duo, SchoolSettings(brin=BRIN, oin=school_oin), schools=schools,
                      credentials=load_credentials(duo, environ={}),
                      exchange_sink=exchanges.append)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture()
def client(make_client: Callable[..., DuoClient]) -> DuoClient:
    return make_client()




def melding(*, bsn: str = BSN, soort: Verzuimsoort = Verzuimsoort.V3, **changes: Any
            ) -> Verzuimmelding:
    today = TODAY
    values: dict[str, Any] = dict(
        source_id="sis-1", brin=BRIN, student=Student(bsn=bsn), verzuimsoort=soort,
        begindatum=today - timedelta(days=20), einddatum=today - timedelta(days=2),
        vermoedelijke_reden="Spijbelen", melder=Melder(naam="M. Melder",
                                                       emailadres="melder@school.example.org"),
        verzuimdagen=(Verzuimdag(datum=today - timedelta(days=20), hele_dag=True),
                      Verzuimdag(datum=today - timedelta(days=19), lesuren=(1, 2, 3))),
    )
    values.update(changes)
    return Verzuimmelding(**values)


class RogueServer:
    """A TLS server (DUO's certificate, client cert required) that misbehaves on purpose.

    ``mode``: ``reset`` (read the request, then RST), ``truncate`` (a chunked answer cut
    off), ``status:<n>`` (an empty HTTP answer with status n), ``silent`` (accept TCP,
    never handshake).
    """

    def __init__(self, pki_dir: Path, mode: str) -> None:
        self.mode = mode
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki_dir / "duo.pem", pki_dir / "duo-key.pem")
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_verify_locations(pki_dir / "trust-bundle.pem")
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}/verzuim/v1"
        self.requests = 0
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(raw)
            if self.mode == "silent":
                continue
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
                elif self.mode == "truncate":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n10\r\n<soapenv:Envel")
                elif self.mode.startswith("status:"):
                    status = int(self.mode.split(":")[1])
                    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n"
                                 f"Connection: close\r\n\r\n".encode())
                conn.close()
            except (OSError, ValueError, StopIteration):
                pass

    def close(self) -> None:
        self.sock.close()
        for conn in self._conns:
            conn.close()


@pytest.fixture()
def rogue(pki_dir: Path) -> Iterator[Callable[[str], RogueServer]]:
    servers: list[RogueServer] = []

    def make(mode: str) -> RogueServer:
        servers.append(RogueServer(pki_dir, mode))
        return servers[-1]

    yield make
    for server in servers:
        server.close()
