"""Every outcome of a DUO call, classified by what must happen next.

| signal                                                    | raises            |
|-----------------------------------------------------------|-------------------|
| ``leveringGoedgekeurd=false``                             | DuoRejected       |
|   … with the duplicate-document code (VZ900)              | DuplicateDocument |
|   … with the stale-stamp code (VZ903)                     | StaleStamp        |
| fault ``Client.DK0004``, ``Server.DK0050`` (the record)   | DuoRejected       |
| fault about our set-up (EK0030/31, DK0001–03, DK0005–11,  | SystemFault       |
|   EK0020–23, a bare ``Client``)                           |                   |
| fault ``Server.DK0051``, HTTP 502/503/429, refused/       | TransientError    |
|   unreachable, ConnectTimeout, TLS handshake timeout      |                   |
| ReadTimeout, reset after send, ChunkedEncodingError,      | OutcomeUnknown    |
|   HTTP 504, HTTP 500 without fault, other ``Server`` fault|                   |
| ``requests.exceptions.SSLError``                          | SystemFault       |
|   (``tls_handshake_failed``)                              |                   |

For read-only operations nothing can have happened at DUO, so an
``OutcomeUnknown`` is raised as ``TransientError`` there (see ``mutating``).
Messages carry codes and class names only: never request data.
"""

from __future__ import annotations

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from adapter.duo.contract import DUPLICATE_DOCUMENT_CODE, STALE_STAMP_CODE
from adapter.errors import (
    AdapterError,
    DuoRejected,
    DuplicateDocument,
    OutcomeUnknown,
    StaleStamp,
    SystemFault,
    TransientError,
)

#: Fault codes caused by the record itself.
RECORD_FAULTS = frozenset({"DK0004", "DK0050"})
#: Fault codes caused by our set-up (certificate, signature, addressing, authorisation).
SETUP_FAULTS = frozenset({
    "DK0001", "DK0002", "DK0003", "DK0005", "DK0006", "DK0007", "DK0008", "DK0009",
    "DK0010", "DK0011", "EK0020", "EK0021", "EK0022", "EK0023", "EK0030", "EK0031",
})
TRANSIENT_FAULTS = frozenset({"DK0051"})


def split_faultcode(faultcode: str) -> tuple[str, str | None]:
    """``soapenv:Client.DK0004`` → (``Client``, ``DK0004``); ``Client`` → (``Client``, None)."""
    local = faultcode.strip().rsplit(":", 1)[-1]
    cls, _, code = local.partition(".")
    return cls, (code or None)


def fault_error(faultcode: str, faultstring: str, *, mutating: bool) -> AdapterError:
    """The exception for a SOAP fault, with DUO's code in ``duo_fault`` (``-`` when bare)."""
    error = _fault_error(faultcode, faultstring, mutating=mutating)
    error.duo_fault = split_faultcode(faultcode)[1] or "-"
    return error


def _fault_error(faultcode: str, faultstring: str, *, mutating: bool) -> AdapterError:
    cls, code = split_faultcode(faultcode)
    if code in RECORD_FAULTS:
        return DuoRejected([(code, faultstring[:200])])
    if code in SETUP_FAULTS:
        return SystemFault(f"duo_fault {cls}.{code}")
    if code in TRANSIENT_FAULTS:
        return TransientError(f"duo_fault {cls}.{code}")
    if cls in ("Client", "VersionMismatch", "MustUnderstand"):
        return SystemFault(f"duo_fault {cls}.{code or '-'}")
    # Server faults we do not know: DUO may have done the work.
    return outcome_unknown(f"duo_fault {cls}.{code or '-'}", mutating)


def rejection_error(errors: list[tuple[str, str]]) -> AdapterError:
    """The exception for ``leveringGoedgekeurd=false`` with DUO's (code, text) list."""
    if any(code == DUPLICATE_DOCUMENT_CODE for code, _ in errors):
        return DuplicateDocument(f"{DUPLICATE_DOCUMENT_CODE}: DUO says the business-document "
                                 "id was used before")
    if any(code == STALE_STAMP_CODE for code, _ in errors):
        return StaleStamp(errors)
    return DuoRejected(errors)


def http_status_error(status: int, *, mutating: bool) -> AdapterError:
    """The exception for a non-200 HTTP answer that is not a SOAP fault."""
    if status in (429, 502, 503):
        return TransientError(f"duo_http_{status}")
    if status == 504 or status >= 500:
        return outcome_unknown(f"duo_http_{status}", mutating)
    return SystemFault(f"duo_http_{status}")   # 3xx/4xx: wrong URL or our request framing


def transport_error(exc: requests.RequestException, *, mutating: bool) -> AdapterError:
    """The exception for a ``requests`` failure (order matters: SSLError is a ConnectionError)."""
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        return SystemFault("tls_handshake_failed")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransientError("duo_connect_timeout")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        if _in_frame(exc, "_validate_conn"):
            # urllib3 reports a TLS handshake that timed out (connect timeout) as a read
            # timeout; nothing was sent yet.
            return TransientError("duo_tls_handshake_timeout")
        return outcome_unknown("duo_read_timeout", mutating)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return outcome_unknown("duo_response_truncated", mutating)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _before_send(exc):
            return TransientError("duo_unreachable")
        return outcome_unknown("duo_connection_lost", mutating)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                        requests.exceptions.MissingSchema)):
        return SystemFault(f"duo_url_invalid {name}")
    return outcome_unknown(f"duo_transport_error {name}", mutating)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (reason, args, cause, context), each once."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if any(current is seen for seen in out):
            continue
        out.append(current)
        for nested in (getattr(current, "reason", None), *getattr(current, "args", ()),
                       current.__cause__, current.__context__):
            if isinstance(nested, BaseException):
                todo.append(nested)
    return out


def _in_frame(exc: BaseException, function: str) -> bool:
    """True when any exception in the chain was raised through ``function``."""
    for current in _chain(exc):
        tb = current.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_name == function:
                return True
            tb = tb.tb_next
    return False


def _before_send(exc: BaseException) -> bool:
    """True when the chain shows the TCP connection was never established."""
    return any(isinstance(e, (NewConnectionError, ConnectTimeoutError, ConnectionRefusedError))
               for e in _chain(exc))


def outcome_unknown(reason: str, mutating: bool) -> AdapterError:
    """OutcomeUnknown for an operation with an effect; TransientError for a read."""
    return OutcomeUnknown(reason) if mutating else TransientError(reason)
