"""zeep, behind one door: the request envelope for an operation and the reply's values.

zeep 4 has no public call that returns the envelope *with* the HTTP headers for
a binding we address ourselves, nor one that parses a reply we received
ourselves (we post the signed bytes with our own session). Both need its
private binding API (``ServiceProxy._binding``, ``SoapBinding._create``,
``ServiceProxy._binding_options``). Every such call lives here, and
``tests/duo/test_binding.py`` fails when zeep's internals change; ``setup.cfg``
bounds zeep below the next minor release for the same reason.
"""

from __future__ import annotations

import threading
from typing import Any

import zeep
from lxml import etree

from adapter.duo.plan import Plan, plan_of, read

__all__ = ["SoapBinding"]


class SoapBinding:
    """One WSDL binding at one address: serialise requests, deserialise replies.

    Thread-safe as zeep's client is: nothing here keeps per-call state.
    """

    def __init__(self, client: zeep.Client, binding_name: str, address: str) -> None:
        self._client = client
        self._service = client.create_service(binding_name, address)
        self._plans: dict[str, Plan] = {}
        self._plans_lock = threading.Lock()

    def request(self, operation: str, values: dict[str, Any]
                ) -> tuple[etree._Element, dict[str, str]]:
        """The SOAP envelope (a tree to address and sign) and HTTP headers for ``operation``.

        :raises zeep.exceptions.Error, TypeError, ValueError: ``values`` do not fit
            the operation's schema.
        """
        binding = self._service._binding
        envelope, headers = binding._create(operation, (), values, client=self._client,
                                            options=self._service._binding_options)
        return envelope, dict(headers)

    def reply(self, operation: str, response: Any) -> Any:
        """The operation's result object from an HTTP ``response`` (``content``, headers).

        :raises zeep.exceptions.Fault: the reply is a SOAP fault.
        :raises zeep.exceptions.Error, lxml.etree.XMLSyntaxError, ValueError: unreadable.
        """
        binding = self._service._binding
        return binding.process_reply(self._client, binding.get(operation), response)

    def read(self, operation: str, body: etree._Element) -> Any:
        """The operation's result from its response element (the first child of a parsed,
        fault-free SOAP Body), read by the plan of zeep's definition of that element
        (:mod:`adapter.duo.plan`): the values ``reply`` gives, without zeep's objects.

        :raises ValueError: not the operation's response element, or one it cannot hold.
        """
        element = self._service._binding.get(operation).output.body
        if body.tag != element.qname.text:
            raise ValueError("not this operation's response")
        with self._plans_lock:
            plan = self._plans.get(operation)
            if plan is None:
                plan = self._plans[operation] = plan_of(element.type)
        return read(body, plan)
