"""
Subscribes the application services to the webhook ingress, so verified events reach them.

Without this the ingress verifies, parses and deduplicates deliveries and then has nobody to hand
the events to. The container's ``webhook_ingress`` is built by `build_subscribed_ingress`, which
registers every pair of each service's ``subscriptions()`` (lead intake on `MessageReceived`,
payment collection on `PaymentSucceeded` / `PaymentFailed` / `CheckoutPaymentSettled` - not
`CheckoutCompleted`, since a paid checkout also emits ``payment_intent.succeeded`` - and follow-up
calls on `CallEnded`) plus one handler that records `MessageStatusChanged` into the messaging
adapter's status store, when the adapter keeps one (WhatsApp Cloud has no status lookup, so its
``get_status`` can only report what status webhooks told us).

A host that registers its own handlers instead sets ``webhooks.subscribe_services: false``
(``PORTICO_WEBHOOKS__SUBSCRIBE_SERVICES=false``); the ingress is then built bare, and the host
calls ``ingress.on(...)`` itself, or `subscribe` with the services it wants.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

import attrs

from ...domain.events import MessageStatusChanged
from ...domain.messaging import DeliveryStatus
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.failed_events import FailedEventLog
from ...ports.webhooks import ReplayStore
from ..services.webhook_ingress import WebhookIngress
from ..services.webhook_values import Subscription
from .settings import Settings
from .webhooks import build_ingress


__all__ = [
    "EventSubscriber",
    "RecordMessageStatus",
    "StatusLog",
    "build_subscribed_ingress",
    "status_log_of",
    "subscribe",
]

_MAX_WRAPPERS = 8  # decorators (resilience, ...) looked through to find the adapter's status log


class EventSubscriber(Protocol):
    """An application service that declares the events it reacts to."""

    def subscriptions(self) -> tuple[Subscription, ...]:
        """(event type, async handler) pairs for the webhook ingress."""


@runtime_checkable
class StatusLog(Protocol):
    """
    Where a messaging adapter keeps statuses that only webhooks report: a `DeliveryStatusLog`
    (sync) or a `ports.delivery_status.DeliveryStatusStore` (async; SQLite or Redis, shared with
    the sending process through ``messaging.status_store``).
    """

    def record(self, message_id: str, status: DeliveryStatus) -> object:
        """Apply one status report (forward-only, so redeliveries are harmless); maybe async."""


@attrs.frozen
class RecordMessageStatus:
    """
    The ingress handler feeding status webhooks into a `StatusLog`.

    Every `MessageStatusChanged` is recorded, whatever parser produced it: message ids are unique
    per provider and the log is bounded, so a foreign id costs one slot and is never read.
    """

    log: StatusLog = attrs.field(repr=False)

    async def __call__(self, event: MessageStatusChanged) -> None:
        """Record the event's status for its message (a failing store fails the delivery)."""
        outcome = self.log.record(event.message_id, event.status)
        if inspect.isawaitable(outcome):
            await outcome


def status_log_of(adapter: object) -> StatusLog | None:
    """The ``status_log`` of ``adapter`` or of the adapter it wraps (``inner``), if any."""
    for _ in range(_MAX_WRAPPERS):
        log = getattr(adapter, "status_log", None)
        if isinstance(log, StatusLog):
            return log
        adapter = getattr(adapter, "inner", None)
        if adapter is None:
            break
    return None


def subscribe(
    ingress: WebhookIngress,
    services: Iterable[EventSubscriber],
    *,
    status_log: StatusLog | None = None,
) -> int:
    """
    Register each service's subscriptions (and a status recorder) on ``ingress``.

    Returns how many handlers were registered. Handlers run in this order for an event type.
    """
    count = 0
    for service in services:
        for event_type, handler in service.subscriptions():
            ingress.on(event_type, handler)
            count += 1
    if status_log is not None:
        ingress.on(MessageStatusChanged, RecordMessageStatus(status_log))
        count += 1
    return count


def build_subscribed_ingress(
    settings: Settings,
    *,
    services: Sequence[Callable[[], EventSubscriber]],
    messaging: Callable[[], object] | None,
    replay_store: Callable[[], ReplayStore] | None = None,
    failed_log: Callable[[], FailedEventLog] | None = None,
    min_lease_seconds: float = 0.0,
    clock: Clock = SYSTEM_CLOCK,
) -> WebhookIngress:
    """
    The configured ingress, with the services subscribed unless ``webhooks.subscribe_services``
    is false.

    Args:
        settings: the validated settings (``webhooks`` is read).
        services: factories of the services to subscribe (those whose ports are enabled); not
            called when opted out.
        messaging: the raw messaging adapter's factory, searched for a status log (None: the
            messaging port is off).
        replay_store: the shared replay store's factory; None builds one from ``settings``.
        failed_log: the failed-event log's factory; None builds one from ``settings``.
        min_lease_seconds: the event claim's shortest lease (the handlers' worst case).
        clock: the time source of the verifiers, parsers and failure records.
    """
    ingress = build_ingress(
        settings,
        replay_store=replay_store() if replay_store is not None else None,
        failed_log=failed_log() if failed_log is not None else None,
        min_lease_seconds=min_lease_seconds,
        clock=clock,
    )
    if settings.webhooks.subscribe_services:
        log = status_log_of(messaging()) if messaging is not None else None
        subscribe(ingress, [make() for make in services], status_log=log)
    return ingress
