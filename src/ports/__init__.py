"""
The ports: what Portico's application services need from the outside world, as Protocols.

Ports speak domain types only, and raise only `domain.errors` errors.
"""

from .crm import CRMPort, UpsertIdempotency, upsert_is_idempotent
from .delivery_status import DeliveryStatusStore
from .execute import PORTS, CommandPorts, execute, served
from .failed_events import FailedEventLog
from .messaging import MessagingPort
from .outbox import DeliveryObserver, DeliveryRecord, Outbox
from .payments import PaymentPort
from .voice import VoicePort
from .webhooks import ReplayStore, WebhookParser, WebhookVerifier


__all__ = [
    "PORTS",
    "CRMPort",
    "CommandPorts",
    "DeliveryObserver",
    "DeliveryRecord",
    "DeliveryStatusStore",
    "FailedEventLog",
    "MessagingPort",
    "Outbox",
    "PaymentPort",
    "ReplayStore",
    "UpsertIdempotency",
    "VoicePort",
    "WebhookParser",
    "WebhookVerifier",
    "execute",
    "served",
    "upsert_is_idempotent",
]
