"""
Twilio's Message ``status`` values (API 2010-04-01) as `DeliveryStatus`: the ONE table used by
both the REST adapter (``GET Messages/{Sid}.json``) and the status-callback webhook parser.

Never claims more progress than Twilio reports: ``sending`` (still being handed to the carrier)
is QUEUED; ``partially_delivered`` (some parts of a multi-part message arrived) is SENT, never
DELIVERED. ``receiving`` / ``received`` belong to inbound messages and have no outbound status.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ...domain.messaging import DeliveryStatus


__all__ = ["INBOUND_STATUSES", "MESSAGE_STATUSES", "delivery_status"]

MESSAGE_STATUSES: Mapping[str, DeliveryStatus] = MappingProxyType(
    {
        "accepted": DeliveryStatus.QUEUED,
        "scheduled": DeliveryStatus.QUEUED,
        "queued": DeliveryStatus.QUEUED,
        "sending": DeliveryStatus.QUEUED,
        "sent": DeliveryStatus.SENT,
        "partially_delivered": DeliveryStatus.SENT,
        "delivered": DeliveryStatus.DELIVERED,
        "read": DeliveryStatus.READ,
        "undelivered": DeliveryStatus.FAILED,
        "failed": DeliveryStatus.FAILED,
        "canceled": DeliveryStatus.FAILED,
    }
)
INBOUND_STATUSES = frozenset({"receiving", "received"})


def delivery_status(value: str) -> DeliveryStatus | None:
    """The status of an outbound message, or None for an inbound or unknown Twilio status."""
    return MESSAGE_STATUSES.get(value.lower())
