"""TLS trust, timeouts and the classification of failures, against real sockets."""

from __future__ import annotations

import logging
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapter.duo.client import DuoClient
from adapter.duo.transport import build_session
from adapter.errors import OutcomeUnknown, SystemFault, TransientError
from adapter.pki.testpki import issue_leaf
from adapter.simulator.server import SimulatorServer
from adapter.store.api import ExchangeRecord

from .conftest import BRIN, SCHOOL_OIN, RogueServer, control, duo_settings, melding


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def foreign(pki_dir: Path) -> tuple[Path, Path, Path]:
    """A client certificate (with the school's OIN) from a CA outside the trust bundle."""
    now = datetime.now(timezone.utc)
    cert, key = issue_leaf(pki_dir, "foreign-school", oin=SCHOOL_OIN, foreign=True,
                           not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    return cert, key, pki_dir / "foreign-school-ca.pem"


def test_environment_trust_is_ignored(make_client: Callable[..., DuoClient],
                                      foreign: tuple[Path, Path, Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment points at a bundle without our root: the explicit bundle still works.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(foreign[2]))
    monkeypatch.setenv("SSL_CERT_FILE", str(foreign[2]))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(foreign[2]))
    client = make_client()
    assert client.aanleveren(melding(), document_id=new_id()).meldingsnummer


def test_configured_bundle_wins_over_a_correct_environment(
        make_client: Callable[..., DuoClient], pki_dir: Path, foreign: tuple[Path, Path, Path],
        simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki_dir / "trust-bundle.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(pki_dir / "trust-bundle.pem"))
    client = make_client(ca_bundle=foreign[2])
    with pytest.raises(SystemFault, match="tls_handshake_failed"):
        client.aanleveren(melding(), document_id=new_id())
    assert control(simulator, "ledger") == {}


@pytest.mark.parametrize("which", ["foreign", "expired"])
def test_client_certificate_refused_by_the_server_is_a_system_fault(
        which: str, make_client: Callable[..., DuoClient], pki_dir: Path,
        foreign: tuple[Path, Path, Path], simulator: SimulatorServer) -> None:
    if which == "foreign":
        cert, key = foreign[0], foreign[1]
    else:
        now = datetime.now(timezone.utc)
        cert, key = issue_leaf(pki_dir, "expired-school", oin=SCHOOL_OIN,
                               not_before=now - timedelta(days=30),
                               not_after=now - timedelta(days=1))
    client = make_client(client_cert=cert, client_key=key)
    with pytest.raises(SystemFault, match="tls_handshake_failed"):
        client.aanleveren(melding(), document_id=new_id())
    assert control(simulator, "ledger") == {}


def test_certificate_without_oin_gets_ek0030(make_client: Callable[..., DuoClient],
                                             pki_dir: Path) -> None:
    now = datetime.now(timezone.utc)
    cert, key = issue_leaf(pki_dir, "no-oin", oin=None, not_before=now - timedelta(days=1),
                           not_after=now + timedelta(days=30))
    with pytest.raises(SystemFault, match="EK0030"):
        make_client(client_cert=cert, client_key=key).opvragen(brin=BRIN, meldingsnummer="1")


def test_from_oin_not_covered_by_the_certificate_gets_dk0002(
        make_client: Callable[..., DuoClient]) -> None:
    with pytest.raises(SystemFault, match="DK0002"):
        make_client(school_oin="00000099000000000002").opvragen(brin=BRIN, meldingsnummer="1")


def test_http_503_and_server_fault_are_transient(
        client: DuoClient, simulator: SimulatorServer, exchanges: list[ExchangeRecord]) -> None:
    control(simulator, "faults", {"mode": "http_503", "count": 1})
    control(simulator, "faults", {"mode": "server_fault", "count": 1})
    doc = new_id()
    with pytest.raises(TransientError, match="duo_http_503"):
        client.aanleveren(melding(), document_id=doc)
    with pytest.raises(TransientError, match="DK0051"):
        client.aanleveren(melding(), document_id=doc)
    assert control(simulator, "ledger") == {}
    assert [e.outcome for e in exchanges] == ["transient", "fault:DK0051"]
    # Retry with the same document id: registered once.
    client.aanleveren(melding(), document_id=doc)
    assert control(simulator, "ledger") == {doc: 1}


def test_commit_then_hang_is_outcome_unknown_then_reconciled(
        make_client: Callable[..., DuoClient], simulator: SimulatorServer,
        exchanges: list[ExchangeRecord]) -> None:
    client = make_client(read_timeout=1.0)
    control(simulator, "faults", {"mode": "commit_then_hang", "count": 1, "seconds": 4})
    doc = new_id()
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        client.aanleveren(melding(), document_id=doc)
    assert time.monotonic() - started < 3.0          # the read timeout really applied
    assert exchanges[-1].outcome == "unknown" and exchanges[-1].response_xml is None
    found = client.opvragen(brin=BRIN, document_id=doc)
    assert found is not None and found.identificatiecode_bedrijfsdocument == doc
    assert control(simulator, "ledger") == {doc: 1}


def test_read_timeout_on_a_query_is_transient(make_client: Callable[..., DuoClient],
                                              simulator: SimulatorServer) -> None:
    client = make_client(read_timeout=1.0)
    control(simulator, "faults", {"mode": "delay", "count": 1, "seconds": 3})
    with pytest.raises(TransientError):
        client.opvragen_gewijzigd(brin=BRIN, since=None)


def test_connection_refused_is_transient(make_client: Callable[..., DuoClient]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = make_client(url=f"https://127.0.0.1:{port}/verzuim/v1")
    with pytest.raises(TransientError, match="duo_unreachable"):
        client.aanleveren(melding(), document_id=new_id())


def test_connect_timeout_applies_to_a_silent_server(
        make_client: Callable[..., DuoClient], rogue: Callable[[str], RogueServer]) -> None:
    server = rogue("silent")        # accepts TCP, never answers the TLS handshake
    client = make_client(url=server.url, connect_timeout=0.5, read_timeout=30.0)
    started = time.monotonic()
    with pytest.raises(TransientError):
        client.aanleveren(melding(), document_id=new_id())
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("mode, error, reason", [
    ("reset", OutcomeUnknown, "duo_connection_lost"),
    ("truncate", OutcomeUnknown, "duo_response_truncated"),
    ("status:504", OutcomeUnknown, "duo_http_504"),
    ("status:502", TransientError, "duo_http_502"),
    ("status:404", SystemFault, "duo_http_404"),
])
def test_failures_after_send(mode: str, error: type[Exception], reason: str,
                             make_client: Callable[..., DuoClient],
                             rogue: Callable[[str], RogueServer]) -> None:
    server = rogue(mode)
    client = make_client(url=server.url)
    with pytest.raises(error, match=reason):
        client.aanleveren(melding(), document_id=new_id())
    assert server.requests == 1


def test_reads_turn_unknown_outcomes_into_transient(
        make_client: Callable[..., DuoClient], rogue: Callable[[str], RogueServer]) -> None:
    client = make_client(url=rogue("status:504").url)
    with pytest.raises(TransientError):
        client.opvragen(brin=BRIN, meldingsnummer="1")


def test_body_logging_is_off() -> None:
    for name in ("zeep.transports", "urllib3"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING


def test_concurrent_handshakes_leave_the_shared_context_alone(
        make_client: Callable[..., DuoClient]) -> None:
    """Regression: requests/urllib3 reloaded cert and CA into the shared SSLContext per
    connection (GIL released) while other threads handshook on it, and the daemon
    died with SIGSEGV. Now nothing per connection touches the context."""
    import threading

    from adapter.duo.transport import TlsAdapter

    client = make_client()
    adapter = client._session.adapters["https://"]  # noqa: SLF001 - white-box check
    assert isinstance(adapter, TlsAdapter)
    context = adapter._context  # noqa: SLF001
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                assert client.opvragen(brin=BRIN, meldingsnummer="999999") is None
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    pool_kw = adapter.poolmanager.connection_pool_kw
    assert pool_kw.get("ssl_context") is context
    for pool in adapter.poolmanager.pools._container.values():  # noqa: SLF001
        assert (pool.ca_certs, pool.cert_file, pool.key_file) == (None, None, None)


def test_new_connections_leave_the_shared_context_alone(
        make_client: Callable[..., DuoClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib3 sets the ALPN protocols on its context for every new connection, and
    CPython frees the old list while other threads copy it into their handshakes
    (cpython#141012: the simulator refused such handshakes with ``decode_error``).
    Ours are set once, when the context is built; connections change nothing."""
    calls: list[list[str]] = []
    real = ssl.SSLContext.set_alpn_protocols

    def counted(self: ssl.SSLContext, protocols: list[str]) -> None:
        calls.append(list(protocols))
        real(self, protocols)

    monkeypatch.setattr(ssl.SSLContext, "set_alpn_protocols", counted)
    client = make_client()
    assert calls == [["http/1.1"]]
    for _ in range(3):     # the simulator closes every connection: three new ones
        assert client.opvragen(brin=BRIN, document_id=new_id()) is None
    assert calls == [["http/1.1"]]


@pytest.mark.parametrize("concurrency", [4, 40])
def test_the_connection_pool_keeps_a_connection_for_every_call_in_flight(
        pki_dir: Path, concurrency: int) -> None:
    """The submitter's calls, the poller's and the attachment sender's: none has its
    kept-alive connection dropped for want of room, whatever ``duo.max_concurrency``."""
    url = "https://duo.invalid/verzuim"
    session = build_session(duo_settings(pki_dir, url, max_concurrency=concurrency))
    try:
        kept = session.get_adapter(url).poolmanager.connection_pool_kw["maxsize"]
    finally:
        session.close()
    assert kept >= concurrency + 2
