"""The DUO simulator: two-way TLS SOAP endpoint + municipality engine + control API.

Use in tests::

    with SimulatorServer(pki_dir, port=0, control_port=0,
                         delay_behandeling=None, delay_afgesloten=None) as sim:
        settings = DuoSettings(url=sim.soap_url, ca_bundle=pki_dir / "trust-bundle.pem", …)
        requests.get(f"{sim.control_url}/ledger", timeout=5)

``pki_dir`` is a directory written by :func:`adapter.pki.testpki.init_test_pki`
(``duo.pem``, ``duo-key.pem``, ``trust-bundle.pem``). Port 0 picks a free port;
``soap_url``/``control_url`` are valid after :meth:`SimulatorServer.start`.
``tls_cert`` (default ``duo.pem``) is the chain served in the TLS handshake; its
key must be ``duo-key.pem`` (answers are always signed with ``duo.pem``), so a
test can replace DUO's TLS certificate while the pinned signing certificate stays.

Strictness (see :mod:`adapter.simulator.protocol`): ``require_signature`` (default
on; off accepts the unsigned Digikoppeling 2W-be profile, but a signature that is
present must still be valid), ``clock_skew`` (seconds of tolerance on the
request's ``wsu:Timestamp``), ``mandate_file`` (JSON ``{"mandates": {"<cert OIN>":
["<school OIN>", …]}}``: which certificate may send for which ``wsa:From``; a
certificate may always send for its own OIN; also settable through ``POST
/control/mandates``), ``require_stamp`` (default on: a wijzigen or intrekken
without ``datumTijdLaatsteMutatie`` is refused, VZ904; the client sends it on
every one), ``rod_file`` (a loaded student
registry also refuses reports of students it does not know, VZ908). ``xsd_path``
is the service contract's XSD (default: the one shared with the client).
Answers are signed with ``duo.pem``/``duo-key.pem``.
"""

from __future__ import annotations

import json
import signal
import threading
from datetime import date, datetime
from pathlib import Path
from types import FrameType
from typing import Callable

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from adapter.config import DUO_OIN
from adapter.duo.contract import XSD_PATH
from adapter.errors import ConfigError
from adapter.simulator.control import ControlApp
from adapter.simulator.engine import MunicipalityEngine
from adapter.simulator.httpd import ThreadedWSGIServer, require_loopback, server_context
from adapter.simulator.operations import Operations
from adapter.simulator.protocol import Policy
from adapter.simulator.signature import RequestVerifier
from adapter.simulator.signer import AnswerSigner
from adapter.simulator.soap import SoapApp
from adapter.simulator.state import SimState

log = structlog.get_logger(__name__)

SOAP_PATH = "/verzuim/v1"


def amsterdam_today() -> date:
    """Today in Europe/Amsterdam (DUO's calendar), falling back to the local date."""
    try:
        from zoneinfo import ZoneInfo
        return datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    except Exception:    # no tz database on this machine
        return date.today()


class SimulatorServer:
    """A running simulator; start/stop or use as a context manager."""

    def __init__(self, pki_dir: Path, *, host: str = "127.0.0.1", port: int = 8443,
                 control_host: str = "127.0.0.1", control_port: int = 8444,
                 delay_behandeling: float | None = 5.0, delay_afgesloten: float | None = 10.0,
                 rod_file: Path | None = None, page_size: int = 100,
                 duo_oin: str = DUO_OIN, today: Callable[[], date] = amsterdam_today,
                 clock_skew: float = 300.0, require_signature: bool = True,
                 mandate_file: Path | None = None, require_stamp: bool = True,
                 xsd_path: Path = XSD_PATH, tls_cert: Path | None = None) -> None:
        require_loopback(control_host)        # refuse before anything is bound
        if page_size < 1:
            raise ConfigError("page_size must be at least 1")
        if clock_skew < 0:
            raise ConfigError("clock_skew must not be negative")
        self.clock_skew = clock_skew
        self.require_signature = require_signature
        self.require_stamp = require_stamp
        self.xsd_path = Path(xsd_path)
        self.pki_dir = Path(pki_dir)
        self.tls_cert = Path(tls_cert) if tls_cert is not None else self.pki_dir / "duo.pem"
        self.host, self.port = host, port
        self.control_host, self.control_port = control_host, control_port
        self.state = SimState()
        if rod_file is not None:
            self.load_rod(Path(rod_file))
        if mandate_file is not None:
            self.load_mandates(Path(mandate_file))
        self.operations = Operations(self.state, page_size=page_size, today=today,
                                     require_stamp=require_stamp)
        self.engine = MunicipalityEngine(self.state, delay_behandeling=delay_behandeling,
                                         delay_afgesloten=delay_afgesloten)
        self.duo_oin = duo_oin
        self._stopping = threading.Event()
        self._servers: list[ThreadedWSGIServer] = []
        self._threads: list[threading.Thread] = []
        self.soap_url = ""
        self.control_url = ""

    def load_rod(self, path: Path) -> int:
        """Add the students of a ROD file.

        Format: ``{"students": [{"bsn"|"onderwijsnummer": str, "geboortedatum": "YYYY-MM-DD"}]}``.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return self.state.add_students(data["students"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"ROD file {path} is not a valid students file") from exc

    def load_mandates(self, path: Path) -> int:
        """Replace the mandate table from ``{"mandates": {"<cert OIN>": ["<OIN>", …]}}``."""
        try:
            mandates = json.loads(path.read_text(encoding="utf-8"))["mandates"]
            if not isinstance(mandates, dict):
                raise TypeError("mandates must be an object")
            self.state.set_mandates(mandates)
            return len(mandates)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"mandate file {path} is not a valid mandates file") from exc

    def start(self) -> "SimulatorServer":
        self._stopping.clear()
        try:
            ctx = server_context(str(self.tls_cert), str(self.pki_dir / "duo-key.pem"),
                                 str(self.pki_dir / "trust-bundle.pem"))
            key = serialization.load_pem_private_key(
                (self.pki_dir / "duo-key.pem").read_bytes(), None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ConfigError("the simulator's duo-key.pem must be an RSA key")
            signer = AnswerSigner(key, x509.load_pem_x509_certificates(
                (self.pki_dir / "duo.pem").read_bytes())[0])
            trust = x509.load_pem_x509_certificates(
                (self.pki_dir / "trust-bundle.pem").read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"simulator PKI in {self.pki_dir} cannot be loaded "
                              f"({type(exc).__name__})") from exc
        policy = Policy(duo_oin=self.duo_oin,
                        verifier=RequestVerifier(trust, clock_skew=self.clock_skew),
                        may_send_for=self.state.may_send_for,
                        require_signature=self.require_signature)
        schema = etree.XMLSchema(etree.parse(str(self.xsd_path)))
        soap = SoapApp(self.state, self.operations, path=SOAP_PATH, policy=policy,
                       signer=signer, schema=schema, stopping=self._stopping)
        soap_server = ThreadedWSGIServer((self.host, self.port), soap, ssl_context=ctx)
        try:
            control_server = ThreadedWSGIServer((self.control_host, self.control_port),
                                                ControlApp(self.state))
        except OSError:
            soap_server.server_close()
            raise
        self._servers = [soap_server, control_server]
        url_host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        self.soap_url = f"https://{url_host}:{soap_server.server_address[1]}{SOAP_PATH}"
        self.control_url = f"http://{self.control_host}:{control_server.server_address[1]}/control"
        for server, name in ((soap_server, "sim-soap"), (control_server, "sim-control")):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.engine.start()
        log.info("simulator_started", soap_port=soap_server.server_address[1],
                 control_port=control_server.server_address[1])
        return self

    def stop(self) -> None:
        self._stopping.set()                  # releases hanging/delayed requests
        self.engine.stop()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []
        log.info("simulator_stopped")

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(pki_dir: Path, *, host: str = "127.0.0.1", port: int = 8443,
          control_host: str = "127.0.0.1", control_port: int = 8444,
          delay_behandeling: float | None = 5.0, delay_afgesloten: float | None = 10.0,
          rod_file: Path | None = None, page_size: int = 100, clock_skew: float = 300.0,
          require_signature: bool = True, mandate_file: Path | None = None,
          require_stamp: bool = True) -> None:
    """Run the simulator until SIGINT/SIGTERM; prints one ready line to stdout."""
    server = SimulatorServer(pki_dir, host=host, port=port, control_host=control_host,
                             control_port=control_port, delay_behandeling=delay_behandeling,
                             delay_afgesloten=delay_afgesloten, rod_file=rod_file,
                             page_size=page_size, clock_skew=clock_skew,
                             require_signature=require_signature, mandate_file=mandate_file,
                             require_stamp=require_stamp)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server.start()
    try:
        print(f"simulator: soap={server.soap_url} control={server.control_url}", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
