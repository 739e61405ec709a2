"""The simulator's SOAP endpoint as a WSGI app.

Order per request: path/method/size → injected fault (control API) → protocol
checks (:mod:`adapter.simulator.protocol`, SOAP faults) → functional handling
(:mod:`adapter.simulator.operations`) → response envelope, signed with DUO's
key (faults too, with :mod:`adapter.simulator.signer`), unless the fault plan says ``unsigned`` or ``bad_signature``
(signature value tampered with after signing). The client certificate comes
from ``environ["SSL_CLIENT_CERT_DER"]`` (set by :mod:`adapter.simulator.httpd`).
Logs carry operation, codes and check names only.
"""

from __future__ import annotations

import base64
import threading
from typing import Any, Callable, Iterable

import structlog
from lxml import etree

from adapter.simulator.operations import Operations
from adapter.simulator.protocol import (
    Partial,
    Policy,
    SoapFault,
    check_request,
    envelope,
    fault_envelope,
)
from adapter.simulator.signer import AnswerSigner
from adapter.simulator.state import FaultPlan, SimState
from adapter.simulator.wire import DS_NS

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
StartResponse = Callable[..., Any]
_XML = "text/xml; charset=utf-8"


class SoapApp:
    """WSGI app for ``POST <path>``."""

    def __init__(self, state: SimState, operations: Operations, *, path: str, policy: Policy,
                 signer: AnswerSigner, schema: etree.XMLSchema,
                 stopping: threading.Event) -> None:
        self.state = state
        self.operations = operations
        self.path = path
        self.policy = policy
        self.duo_oin = policy.duo_oin
        self.signer = signer
        self.schema = schema
        self.stopping = stopping
        self._schema_lock = threading.Lock()    # an XMLSchema object is not thread-safe

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.path:
            return _plain(start_response, "404 Not Found", b"not found\n")
        if environ.get("REQUEST_METHOD") != "POST":
            return _plain(start_response, "405 Method Not Allowed", b"POST only\n")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            return _plain(start_response, "413 Payload Too Large", b"too large\n")
        body = environ["wsgi.input"].read(length)

        action = str(environ.get("HTTP_SOAPACTION", "")).strip('"')
        plan = self.state.take_fault(action.rsplit("/", 1)[-1] or None)
        if plan is not None:
            log.info("simulator_fault_injected", mode=plan.mode)
            if plan.mode == "http_503":
                return _plain(start_response, "503 Service Unavailable", b"unavailable\n")
            if plan.mode == "server_fault":
                return self._fault(start_response, SoapFault("DK0051"), Partial(), plan)
            if plan.mode == "delay":
                self.stopping.wait(plan.seconds)
            if plan.mode == "hang_then_drop":
                # Lost on its way in: nothing registered, the client's read timeout expires.
                self.stopping.wait(plan.seconds)
                return _plain(start_response, "503 Service Unavailable", b"dropped\n")

        partial = Partial()
        try:
            request = check_request(
                content_type=environ.get("CONTENT_TYPE", ""),
                soap_action_header=environ.get("HTTP_SOAPACTION", ""), body=body,
                client_cert_der=environ.get("SSL_CLIENT_CERT_DER"), schema=self.schema,
                policy=self.policy, partial=partial, schema_lock=self._schema_lock)
        except SoapFault as fault:
            log.info("simulator_soap_fault", operation=partial.operation, code=fault.code,
                     check=fault.detail if fault.code == "EK0031" else None)
            return self._fault(start_response, fault, partial, plan)
        try:
            response_el = self.operations.handle(request.operation, request.body)
        except Exception:
            log.exception("simulator_internal_error", operation=request.operation)
            return self._fault(start_response, SoapFault("INT500", faultstring="Interne fout"),
                               partial, plan)
        data = self._seal(envelope(response_el, operation=request.operation,
                                   relates_to=request.message_id, to_oin=request.from_oin,
                                   duo_oin=self.duo_oin), plan)
        approved = response_el.findtext("{*}leveringGoedgekeurd") == "true"
        log.info("simulator_request_handled", operation=request.operation, approved=approved)
        if plan is not None and plan.mode == "commit_then_hang":
            # Registered; now make the client's read timeout expire before answering.
            self.stopping.wait(plan.seconds)
        start_response("200 OK", [("Content-Type", _XML), ("Content-Length", str(len(data)))])
        return [data]

    def _fault(self, start_response: StartResponse, fault: SoapFault, partial: Partial,
               plan: FaultPlan | None) -> Iterable[bytes]:
        data = self._seal(fault_envelope(fault, partial, duo_oin=self.duo_oin), plan)
        start_response("500 Internal Server Error",
                       [("Content-Type", _XML), ("Content-Length", str(len(data)))])
        return [data]


    def _seal(self, env: etree._Element, plan: FaultPlan | None) -> bytes:
        """Sign an answer as DUO does (or not, or badly, as the fault plan says)."""
        if plan is None or plan.mode != "unsigned":
            env = self.signer.sign(env)
        if plan is not None and plan.mode == "bad_signature":
            value = env.find(f".//{{{DS_NS}}}Signature/{{{DS_NS}}}SignatureValue")
            if value is None:   # we signed it a line above
                raise AssertionError("the answer's signature value is missing")
            raw = bytearray(base64.b64decode(value.text or ""))
            raw[len(raw) // 2] ^= 0x01
            value.text = base64.b64encode(bytes(raw)).decode()
        return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _plain(start_response: StartResponse, status: str, body: bytes) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
