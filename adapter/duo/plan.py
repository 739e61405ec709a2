"""zeep's element definitions as plans: render and read the hot messages without zeep's
value objects.

zeep builds, checks and walks an object per element (``CompoundValue``) each time it
renders or parses; for the intake's schema check of every report, the feedback poller's
pages and every DUO call's request and reply (:mod:`adapter.duo.binding`) that was most
of their interpreter time. A plan is the same definitions,
flattened once (:func:`plan_of`): per child element, in the schema's order, its tag, its
zeep type, how often it may occur and whether it must. Simple values go through the zeep
type's own ``xmlvalue`` and ``parse_xmlelement``, so text is exactly zeep's.

Rendering checks what zeep checks while rendering (an unknown field, a missing required
one, more than ``maxOccurs``); reading refuses an element the plan does not know, as
zeep's strict mode does. Tests compare both with zeep, byte for byte and value for value
(``tests/duo/test_schema_check.py``, ``tests/duo/test_binding.py``,
``tests/duo/test_plan.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import zeep
from lxml import etree

__all__ = ["Plan", "plan_of", "read", "render"]

#: One child element: (field name, tag, zeep type, most occurrences (None: unbounded),
#: required, the plan of its own children when it is complex).
Step = tuple[str, str, Any, "int | None", bool, "Plan | None"]


class Plan(tuple[Step, ...]):
    """The steps of one complex type, in the schema's order, and ``order``: each step's
    tag to its position, which :func:`read` checks the order of a message by (made once
    with the plan, not for every element read)."""

    order: dict[str, int]

    def __new__(cls, steps: Iterable[Step]) -> Plan:
        plan = super().__new__(cls, steps)
        plan.order = {step[1]: at for at, step in enumerate(plan)}
        return plan


def plan_of(xsd_type: Any) -> Plan:
    """The plan of a zeep complex type: its elements flattened in the schema's order
    (groups and choices included, as zeep flattens them)."""
    return Plan(
        (name, element.qname.text, element.type,
         element.max_occurs if isinstance(element.max_occurs, int) else None,
         element.min_occurs >= 1 and not element.nillable,
         plan_of(element.type) if isinstance(element.type, zeep.xsd.ComplexType) else None)
        for name, element in xsd_type.elements)


def render(parent: etree._Element, plan: Plan, values: Any) -> None:
    """Render ``values`` (zeep kwargs) below ``parent`` as zeep's ``Element.render`` does:
    each present field in the schema's order. Like zeep, an unknown field is a
    ``TypeError``; a missing required one, or more than its ``maxOccurs``, a
    ``ValueError``."""
    if not isinstance(values, dict) or not values.keys() <= {step[0] for step in plan}:
        raise TypeError("unexpected field")
    for name, tag, xsd_type, most, required, children in plan:
        value = values.get(name)
        if value is None:
            if required:
                raise ValueError("missing element")
            continue
        items = value if most != 1 and isinstance(value, (list, tuple)) else (value,)
        if most is not None and len(items) > most:
            raise ValueError("too many elements")
        for item in items:
            node = etree.SubElement(parent, tag)
            if children is not None:
                render(node, children, item)
            else:
                node.text = xsd_type.xmlvalue(item)


def read(node: etree._Element, plan: Plan) -> SimpleNamespace:
    """The values below ``node`` as zeep's parse gives them, by attribute: a repeating
    element as a list (empty when absent), any other absent one as None (a missing
    required one too, as zeep gives it). An element the plan does not know, one out of
    the schema's order or more often than its ``maxOccurs`` is a ``ValueError``, where
    zeep's strict mode raises ``XMLParseError``."""
    order = plan.order
    found: dict[str, list[etree._Element]] = {}
    last = 0
    for child in node:
        if not isinstance(child.tag, str):      # comments and processing instructions
            continue
        at = order.get(child.tag, -1)
        if at < last:
            raise ValueError("unexpected element")
        last = at
        found.setdefault(child.tag, []).append(child)
    values: dict[str, Any] = {}
    for name, tag, xsd_type, most, _required, children in plan:
        elements = found.get(tag, ())
        if most is not None and len(elements) > most:
            raise ValueError("unexpected element")
        parsed = [read(el, children) if children is not None
                  else xsd_type.parse_xmlelement(el) for el in elements]
        values[name] = parsed if most != 1 else (parsed[0] if parsed else None)
    return SimpleNamespace(**values)
