"""
The values the webhook ingress speaks in: endpoints, counters, transport-neutral answers, and the
`Subscription` a service hands it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from ...domain.events import DomainEvent
from ...domain.webhooks import WebhookRequest
from ...ports.webhooks import WebhookParser, WebhookVerifier


__all__ = [
    "ProviderCounters",
    "Subscription",
    "SubscriptionHandshake",
    "ValidationHandshake",
    "WebhookEndpoint",
    "WebhookResponse",
]

# (event type, async handler): what a service asks the webhook ingress to call.
Subscription = tuple[type[DomainEvent], Callable[[Any], Awaitable[None]]]


@runtime_checkable
class SubscriptionHandshake(Protocol):
    """A verifier that also answers the provider's GET subscription check (Meta's ``hub.*``)."""

    def handshake(self, request: WebhookRequest) -> str:
        """The challenge to echo; raises `WebhookRejected` when the verify token is wrong."""


def _success(_inst: object, _attr: object, value: int) -> None:
    if not 200 <= value < 300:
        msg = f"accepted_status must be a 2xx status, got {value}"
        raise ValueError(msg)


@runtime_checkable
class ValidationHandshake(Protocol):
    """A verifier whose provider validates the endpoint by a POST (Graph's ``validationToken``)."""

    def validation(self, request: WebhookRequest) -> str | None:
        """
        The token to echo (plain text, 200) when ``request`` is the provider's validation, else
        None; read from the request alone (no I/O), so the answer is immediate. Raises
        `WebhookRejected` for a malformed validation.
        """


def _validation_of(endpoint: WebhookEndpoint) -> Callable[[WebhookRequest], str | None] | None:
    verifier = endpoint.verifier
    return verifier.validation if isinstance(verifier, ValidationHandshake) else None


@attrs.frozen
class WebhookEndpoint:
    """
    How one provider's deliveries are checked and read, and the 2xx a processed one gets.

    ``validation`` is the verifier's `ValidationHandshake.validation` when it has one (else
    None), looked up once here: a runtime protocol check per delivery costs more than the HMAC.
    """

    verifier: WebhookVerifier
    parser: WebhookParser
    accepted_status: int = attrs.field(default=200, validator=_success)
    validation: Callable[[WebhookRequest], str | None] | None = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(_validation_of, takes_self=True)
    )


@attrs.frozen
class WebhookResponse:
    """
    The answer to a delivery: a JSON object (or, for a handshake, plain text), status and headers.

    Transport-neutral so that the ASGI app, a test or another framework can send it.
    """

    status: int
    body: Mapping[str, object] | str
    headers: tuple[tuple[str, str], ...] = ()
    # What the delivery carried (event class names), for telemetry; never sent to the provider.
    event_types: tuple[str, ...] = ()


@attrs.define
class ProviderCounters:
    """What one provider sent us, for ``portico health``."""

    received: int = 0
    processed: int = 0
    duplicates: int = 0
    in_flight: int = 0
    unknown_types: int = 0
    handler_failures: int = 0
    handler_rejected: int = 0
    store_failures: int = 0  # replay-store calls that failed (claim, complete, release)
    rejected: Counter[str] = attrs.Factory(Counter)
    last_received: float | None = None  # the ingress clock's monotonic reading, None: none yet

    def snapshot(self, now: float | None = None) -> dict[str, object]:
        """
        A plain, JSON-ready copy; given ``now`` (a monotonic reading of the same clock), also
        ``last_received_age_seconds``: how long ago the last delivery arrived (None: none yet).
        """
        data: dict[str, object] = attrs.asdict(self)
        data["rejected"] = dict(sorted(self.rejected.items()))
        del data["last_received"]
        if now is not None:
            data["last_received_age_seconds"] = (
                None if self.last_received is None else round(max(now - self.last_received, 0.0), 3)
            )
        return data
