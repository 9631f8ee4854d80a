"""
Subscribes the application services to the webhook ingress, so verified events reach them.

Without this the ingress verifies, parses and deduplicates deliveries and then has nobody to hand
the events to. The container's ``webhook_ingress`` is built by `build_subscribed_ingress`, which
registers every pair of each service's ``subscriptions()`` (lead intake on `MessageReceived`,
payment collection on `PaymentSucceeded` / `PaymentFailed` - not `CheckoutCompleted`, since a paid
checkout also emits ``payment_intent.succeeded`` - and follow-up calls on `CallEnded`) plus one
handler that records `MessageStatusChanged` into the messaging adapter's status store, when the
adapter keeps one (WhatsApp Cloud has no status lookup, so its ``get_status`` can only report what
status webhooks told us).

A host that registers its own handlers instead sets ``webhooks.subscribe_services: false``
(``PORTICO_WEBHOOKS__SUBSCRIBE_SERVICES=false``); the ingress is then built bare, and the host
calls ``ingress.on(...)`` itself, or `subscribe` with the services it wants.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from ...domain.errors import ConfigurationError
from ...domain.events import MessageStatusChanged
from ...domain.messaging import DeliveryStatus
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.webhooks import ReplayStore
from ..services._outreach import Subscription
from ..services.webhook_ingress import WebhookIngress
from .webhooks import build_replay_store, build_webhook_ingress


__all__ = [
    "EventSubscriber",
    "RecordMessageStatus",
    "StatusLog",
    "build_subscribed_ingress",
    "replay_store_from_config",
    "status_log_of",
    "subscribe",
    "subscribe_services_enabled",
]

SETTING = "subscribe_services"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
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


def subscribe_services_enabled(config: Mapping[str, Any] | None) -> bool:
    """``webhooks.subscribe_services`` as a bool (default true; env strings such as "false")."""
    webhooks = (config or {}).get("webhooks")
    raw = webhooks.get(SETTING) if isinstance(webhooks, Mapping) else None
    if raw is None or raw == "":
        return True
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"webhooks.{SETTING} must be true or false")


def replay_store_from_config(
    config: Mapping[str, Any] | None, *, clock: Clock = SYSTEM_CLOCK
) -> ReplayStore:
    """
    The ``webhooks.replay`` store, built lazily (nothing is opened until first use).

    One instance serves the ingress (events processed once) and lead intake (per-sender claims,
    under their own ``intake:`` keys), so both see the same workers and close together.
    ``clock`` times its leases and retention (memory and SQLite stores).
    """
    webhooks = (config or {}).get("webhooks")
    return build_replay_store(webhooks if isinstance(webhooks, Mapping) else {}, clock=clock)


def build_subscribed_ingress(
    config: Mapping[str, Any] | None,
    *,
    environment: str,
    services: Sequence[Callable[[], EventSubscriber]],
    messaging: Callable[[], object],
    replay_store: Callable[[], ReplayStore] | None = None,
    min_lease_seconds: float = 0.0,
    clock: Clock = SYSTEM_CLOCK,
) -> WebhookIngress:
    """
    The configured ingress, with the services subscribed unless the configuration opts out.

    Args:
        config: the whole configuration tree (``webhooks`` is read).
        environment: ``fake``, ``sandbox`` or ``production`` (see `build_webhook_ingress`).
        services: factories of the services to subscribe; not called when opted out.
        messaging: the raw messaging adapter's factory, searched for a status log.
        replay_store: the shared replay store's factory; None builds one from ``config``.
        min_lease_seconds: the event claim's shortest lease (the handlers' worst case).
        clock: the time source of the verifiers, parsers and failure records.
    """
    enabled = subscribe_services_enabled(config)  # a bad flag fails before anything is built
    if replay_store is None:
        ingress = build_webhook_ingress(
            config, environment=environment, min_lease_seconds=min_lease_seconds, clock=clock
        )
    else:
        shared = replay_store
        ingress = build_webhook_ingress(
            config,
            environment=environment,
            store_factory=lambda _settings: shared(),
            min_lease_seconds=min_lease_seconds,
            clock=clock,
        )
    if enabled:
        subscribe(ingress, [make() for make in services], status_log=status_log_of(messaging()))
    return ingress
