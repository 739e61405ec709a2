"""zeep, behind one door: the request envelope for an operation and the reply's values.

zeep 4 has no public call that returns the envelope *with* the HTTP headers for
a binding we address ourselves, nor one that parses a reply we received
ourselves (we post the signed bytes with our own session). Both need its
private binding API (``ServiceProxy._binding``, ``SoapBinding._create``,
``ServiceProxy._binding_options``). Every such call lives here, and
``tests/duo/test_binding.py`` fails when zeep's internals change; ``setup.cfg``
bounds zeep below the next minor release for the same reason.

Requests and fault-free replies go by the plans of zeep's own definitions
(:mod:`adapter.duo.plan`), made once per operation when the binding is made: zeep
builds and walks an object per element on every call, about two thirds of a
millisecond of interpreter time per call that the plans do not spend. The envelope is
zeep's, byte for byte (``soap-env:Envelope``, ``Body``, the request element, then
zeep's own WS-Addressing headers), and a reply's values are those zeep gives;
``tests/duo/test_binding.py`` compares both ways for every operation. A binding with
anything that would change zeep's envelope (zeep plugins, zeep's WS-Security, extra
HTTP headers, SOAP 1.2) is left to zeep whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zeep
import zeep.wsa
from lxml import etree
from zeep.wsdl.bindings.soap import Soap11Binding

from adapter.duo.plan import Plan, plan_of, read, render

__all__ = ["SoapBinding"]

_SOAP11 = Soap11Binding.nsmap["soap-env"]
_ENVELOPE, _BODY = f"{{{_SOAP11}}}Envelope", f"{{{_SOAP11}}}Body"
_CONTENT_TYPE = "text/xml; charset=utf-8"     # Soap11Binding._set_http_headers


@dataclass(frozen=True)
class _Operation:
    """One operation's plans: zeep's operation, its request and response elements, and
    whether its request is built by plan (``by_plan``; else zeep builds it whole)."""

    zeep: Any
    by_plan: bool
    request_tag: str
    request: Plan
    response_tag: str
    response: Plan
    soap_action: str


class SoapBinding:
    """One WSDL binding at one address: serialise requests, deserialise replies.

    Thread-safe as zeep's client is: nothing here keeps per-call state, and the plans
    are made in the constructor and only read afterwards.
    """

    def __init__(self, client: zeep.Client, binding_name: str, address: str) -> None:
        self._client = client
        self._service = client.create_service(binding_name, address)
        binding = self._service._binding
        self._nsmap = {"soap-env": _SOAP11, **client.wsdl.types._prefix_map_custom}
        # zeep plugins, zeep's WS-Security, extra HTTP headers or SOAP 1.2 would change
        # zeep's envelope: such a client's requests are left to zeep.
        own = (isinstance(binding, Soap11Binding) and not client.plugins and not client.wsse
               and not client.settings.extra_http_headers)
        self._operations: dict[str, _Operation] = {}
        for name, operation in binding.all().items():
            request, response = operation.input.body, operation.output.body
            if request is not None and response is not None:
                self._operations[name] = _Operation(
                    zeep=operation, by_plan=own and not operation.input._is_body_wrapped,
                    request_tag=request.qname.text,
                    request=plan_of(request.type), response_tag=response.qname.text,
                    response=plan_of(response.type),
                    soap_action=f'"{operation.soapaction}"' if operation.soapaction else '""')

    def request(self, operation: str, values: dict[str, Any]
                ) -> tuple[etree._Element, dict[str, str]]:
        """The SOAP envelope (a tree to address and sign) and HTTP headers for ``operation``.

        :raises zeep.exceptions.Error, TypeError, ValueError: ``values`` do not fit
            the operation's schema.
        """
        planned = self._operations.get(operation)
        if planned is None or not planned.by_plan:
            envelope, headers = self._service._binding._create(
                operation, (), values, client=self._client,
                options=self._service._binding_options)
            return envelope, dict(headers)
        envelope = etree.Element(_ENVELOPE, nsmap=self._nsmap)
        render(etree.SubElement(etree.SubElement(envelope, _BODY), planned.request_tag),
               planned.request, values)
        headers = {"SOAPAction": planned.soap_action, "Content-Type": _CONTENT_TYPE}
        if planned.zeep.abstract.wsa_action:
            envelope, headers = zeep.wsa.WsAddressingPlugin().egress(
                envelope, headers, planned.zeep, self._service._binding_options)
        return envelope, dict(headers)

    def reply(self, operation: str, response: Any) -> Any:
        """The operation's result object from an HTTP ``response`` (``content``, headers),
        by zeep itself: what :meth:`read` does not take (faults, a status other than 200).

        :raises zeep.exceptions.Fault: the reply is a SOAP fault.
        :raises zeep.exceptions.Error, lxml.etree.XMLSyntaxError, ValueError: unreadable.
        """
        binding = self._service._binding
        return binding.process_reply(self._client, binding.get(operation), response)

    def read(self, operation: str, body: etree._Element) -> Any:
        """The operation's result from its response element (the first child of a parsed,
        fault-free SOAP Body of a 200 reply), read by the plan of zeep's definition of
        that element (:mod:`adapter.duo.plan`): the values ``reply`` gives, without
        zeep's objects.

        :raises ValueError: not the operation's response element, or one it cannot hold.
        """
        planned = self._operations.get(operation)
        if planned is None or body.tag != planned.response_tag:
            raise ValueError("not this operation's response")
        return read(body, planned.response)
