"""What the inbox consumer hands its handler, and what the handler answers.

A leaf (standard library only): the intake and the conformance kit describe
deliveries without importing pika.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Delivery", "Disposition"]


@dataclass(frozen=True)
class Delivery:
    """One message from the inbox queue, as the handler sees it."""

    body: bytes
    routing_key: str
    message_id: str | None
    content_type: str | None
    headers: dict[str, object]
    redelivered: bool
    timestamp: int | None
    delivery_tag: int


@dataclass(frozen=True)
class Disposition:
    """What the handler decided. ``reason`` (for ``dead``) must name rules, never values."""

    action: Literal["ack", "dead", "requeue"]
    reason: str | None = None
