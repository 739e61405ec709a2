"""Two-way TLS transport to DUO: a ``requests.Session`` that trusts only our bundle.

Contract:

- trust comes from ``duo.ca_bundle`` only: ``trust_env`` is off (so
  ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` and proxy variables are ignored) and
  the SSLContext is built empty and loads the bundle explicitly (so
  ``SSL_CERT_FILE``/the OS store never add roots);
- TLS 1.2 is the minimum; the client certificate and key (an
  :class:`~adapter.pki.identity.Identity`, PEM or PKCS#12, possibly with a
  passphrase) are loaded into the context up front, so a bad key file fails at
  start-up, not at the first call;
- every POST carries an explicit ``(connect_timeout, read_timeout)``; the adapter
  fills that pair in for any request that arrives without a timeout.

Never ``verify=False``. The context is configured completely, once, before any
thread uses it; requests and urllib3 must not touch it afterwards. Left to
themselves they do, per new connection: ``session.cert`` makes urllib3 call
``load_cert_chain`` and a ``verify`` path makes it call ``load_verify_locations``
on the shared context, with the GIL released, while other threads handshake on
it; that crashed the daemon (SIGSEGV in ``ssl_wrap_socket``) under concurrent
submissions. So the session carries no cert and no CA path, and
:meth:`TlsAdapter.cert_verify` keeps requests from pointing urllib3 at certifi.
urllib3 also sets the ALPN protocols on the context for every new connection; the
context is a :class:`SharedContext`, which has them from the start and skips that.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from zeep.transports import Transport

from adapter.config import DuoSettings
from adapter.errors import ConfigError
from adapter.pki.identity import Identity, load_identity

Timeout = tuple[float, float]
#: What urllib3 offers (``urllib3.util.ssl_.ALPN_PROTOCOLS``): set once, up front.
ALPN = ("http/1.1",)


class SharedContext(ssl.SSLContext):
    """A client context that many threads handshake on at once: set up once, then fixed.

    urllib3 calls ``set_alpn_protocols(["http/1.1"])`` on the context it is given for
    every new connection. CPython frees and replaces the context's ALPN list there,
    while other threads copy that list into their new connections with the GIL
    released (cpython#141012, a use-after-free). It showed here as a handshake the
    server refused now and then with ``decode_error`` (a garbled ALPN extension), and
    could as well crash the process. The protocols are set once, when the context is
    built; every later call is skipped.
    """

    _alpn_fixed = False

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        if self._alpn_fixed:
            return
        super().set_alpn_protocols(list(alpn_protocols))
        self._alpn_fixed = True


def build_ssl_context(duo: DuoSettings, identity: Identity | None = None) -> ssl.SSLContext:
    """A client context: TLS ≥ 1.2, hostname check, our CA bundle only, our client cert.

    ``identity`` is the TLS identity (:func:`adapter.pki.identity.load_credentials`);
    when None it is read from ``duo`` without a passphrase (unencrypted keys only).
    """
    ctx = SharedContext(ssl.PROTOCOL_TLS_CLIENT)   # no default CAs loaded
    ctx.set_alpn_protocols(ALPN)                     # fixed from here on
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cafile=str(duo.ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"duo.ca_bundle cannot be loaded ({type(exc).__name__})") from exc
    if identity is None:   # no passphrase here: fine for unencrypted keys (tests, demo)
        identity = load_identity(duo.client_cert, duo.client_key, None)
    identity.load_into(ctx)
    return ctx


class TlsAdapter(HTTPAdapter):
    """HTTPAdapter with our SSLContext and a default ``(connect, read)`` timeout."""

    def __init__(self, context: ssl.SSLContext, timeout: Timeout, *, connections: int = 16
                 ) -> None:
        """``connections``: how many kept-alive connections to DUO the pool keeps (calls
        beyond it still go, on a connection closed after use: a TLS handshake more)."""
        self._context = context
        self._timeout = timeout
        # max_retries=0: a retry is a business decision (same document id), not urllib3's.
        super().__init__(max_retries=0, pool_connections=1, pool_maxsize=connections)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(proxy, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Trust and client certificate come from our context only, never per connection."""
        if verify is False:
            raise ConfigError("certificate verification cannot be switched off for DUO")
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None
        conn.cert_file = None
        conn.key_file = None

    def build_connection_pool_key_attributes(self, request: requests.PreparedRequest,
                                             verify: Any, cert: Any = None) -> Any:
        # The pool key must not carry a CA path or client cert either (see cert_verify).
        return super().build_connection_pool_key_attributes(request, True, None)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, *args, **kwargs)


def build_session(duo: DuoSettings, identity: Identity | None = None) -> requests.Session:
    """The session used for every call to ``duo.url`` (``identity``: see build_ssl_context)."""
    context = build_ssl_context(duo, identity)
    session = requests.Session()
    session.trust_env = False
    session.verify = True   # means "verify"; *what* is trusted is in the context alone
    session.cert = None     # the client certificate is in the context already
    session.headers["User-Agent"] = "verzuim-adapter"
    # Room for every call in flight: the submitter's pool, the feedback poller and the
    # attachment sender share this session.
    adapter = TlsAdapter(context, (duo.connect_timeout, duo.read_timeout),
                         connections=max(16, duo.max_concurrency + 2))
    session.mount("https://", adapter)
    # Nothing may go out in clear text: an http:// URL has no adapter.
    session.adapters.pop("http://", None)
    return session


class DuoTransport(Transport):
    """zeep Transport whose POST always uses ``(connect_timeout, read_timeout)``.

    zeep passes ``operation_timeout`` as a single number (used as both connect
    and read timeout); we pass the pair explicitly instead. WSDL/XSD are
    loaded from the package, so ``load`` never touches the network.
    """

    def __init__(self, session: requests.Session, timeout: Timeout) -> None:
        super().__init__(session=session, operation_timeout=timeout[1], timeout=timeout[0])
        self.post_timeout = timeout

    def post(self, address: str, message: bytes, headers: dict[str, str]
             ) -> requests.Response:
        # Deliberately no body logging here (zeep's own post logs bodies at DEBUG).
        return self.session.post(address, data=message, headers=headers,
                                 timeout=self.post_timeout)
