"""
The ports: what Portico's application services need from the outside world, as Protocols.

Ports speak domain types only, and raise only `domain.errors` errors.
"""

from ports.crm import CRMPort, UpsertIdempotency, upsert_is_idempotent
from ports.delivery_status import DeliveryStatusStore
from ports.execute import CommandPorts, execute
from ports.failed_events import FailedEventLog
from ports.messaging import MessagingPort
from ports.outbox import Outbox
from ports.payments import PaymentPort
from ports.voice import VoicePort
from ports.webhooks import ReplayStore, WebhookParser, WebhookVerifier


__all__ = [
    "CRMPort",
    "CommandPorts",
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
    "upsert_is_idempotent",
]
