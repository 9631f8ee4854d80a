"""
Which handler failures are permanent, and a bounded memory of the recent ones for operators.

A handler that raises `PermanentError` or `InvalidValue` (say a HubSpot contact with neither phone
nor email) will fail the same way on every redelivery, and the providers retry a 5xx for days. Such
an event is completed instead, counted, logged at ERROR and kept here (event id and type, the
handler and the error's type: never its message, which may quote patient data), so an operator
sees it on ``/healthz/webhooks``. When the ingress has a `FailedEventLog`, the failure is also
recorded there durably, with its delivery (`failed_event`), so ``portico webhooks replay`` can
run it again once the cause is fixed.

`AuthenticationFailed` and `PermissionDenied` are the exception: our credentials or scopes are
wrong, the operator fixes them, and the provider's retry then succeeds, so they stay transient here.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

import attrs

from ...domain.errors import (
    AuthenticationFailed,
    IntegrationError,
    InvalidValue,
    PermanentError,
    PermissionDenied,
)
from ...domain.events import DomainEvent
from ...domain.failed_events import FailedEvent
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.webhooks import WebhookRequest
from ...ports.failed_events import FailedEventLog


__all__ = [
    "DEFAULT_RECENT_FAILURES",
    "HandlerFailure",
    "RecentFailures",
    "failed_event",
    "failed_events_health",
    "is_permanent",
    "safe_reason",
]

DEFAULT_RECENT_FAILURES = 50
logger = logging.getLogger("portico.webhooks")


def is_permanent(error: BaseException) -> bool:
    """True when redelivering the same event cannot make the handler succeed."""
    if isinstance(error, AuthenticationFailed | PermissionDenied):
        return False
    return isinstance(error, PermanentError | InvalidValue)


def safe_reason(error: BaseException) -> str:
    """
    Why the handler failed, from type names, field names and vendor codes only.

    Never the exception's message: ``NotFound("no contact +1555...")`` would put patient data in
    a record that operators list and paste into tickets.
    """
    name = type(error).__name__
    if isinstance(error, InvalidValue):
        return f"{name}: field {error.field[:60]!r} refused"
    if isinstance(error, IntegrationError):
        parts = [f"{name} from {error.integration[:40]}"]
        if error.status_code is not None:
            parts.append(f"status {error.status_code}")
        if error.vendor_code:
            parts.append(f"code {error.vendor_code[:60]}")
        return ", ".join(parts)
    return name


def failed_event(
    provider: str,
    event: DomainEvent,
    request: WebhookRequest,
    handler: str,
    error: BaseException,
    now: float,
) -> FailedEvent:
    """The durable record of one permanent failure, with the delivery needed to replay it."""
    return FailedEvent(
        provider=provider,
        event_id=event.event_id,
        event_type=type(event).__name__,
        handler=handler,
        error=type(error).__name__,
        reason=safe_reason(error),
        first_failed_at=now,
        last_failed_at=now,
        url=request.url,
        content_type=request.headers.get("content-type", ""),
        body=request.body,
    )


@attrs.frozen
class HandlerFailure:
    """One event a handler refused for good: identities and type names only."""

    at: float  # wall-clock seconds since the epoch
    provider: str
    event_id: str
    event_type: str
    handler: str
    error: str

    def snapshot(self) -> dict[str, object]:
        """A plain, JSON-ready copy."""
        return attrs.asdict(self)


@attrs.define
class RecentFailures:
    """The last ``limit`` permanent handler failures, oldest dropped first."""

    limit: int = DEFAULT_RECENT_FAILURES
    clock: Clock = SYSTEM_CLOCK
    _items: deque[HandlerFailure] = attrs.field(init=False)

    @_items.default
    def _make_items(self) -> deque[HandlerFailure]:
        return deque(maxlen=max(self.limit, 1))

    def __len__(self) -> int:
        return len(self._items)

    def record(
        self, provider: str, event_id: str, event_type: str, handler: str, error: str
    ) -> HandlerFailure:
        """Remember one failure (dropping the oldest when full) and return it."""
        failure = HandlerFailure(
            self.clock.now().timestamp(), provider, event_id, event_type, handler, error
        )
        self._items.append(failure)
        return failure

    def snapshot(self) -> list[dict[str, object]]:
        """Newest first, JSON-ready."""
        return [failure.snapshot() for failure in reversed(self._items)]


class _HasFailedLog(Protocol):
    failed_log: FailedEventLog | None


async def failed_events_health(ingress: _HasFailedLog) -> dict[str, object]:
    """
    ``{"failed_events": n}``: unresolved records in the durable log, for ``/healthz/webhooks``.

    ``None`` without a log, ``"unavailable"`` when it cannot be read: health never raises.
    """
    if ingress.failed_log is None:
        return {"failed_events": None}
    try:
        return {"failed_events": await ingress.failed_log.count()}
    except Exception as exc:  # noqa: BLE001 - a health check reports, never crashes
        logger.error("webhooks: failed-event log unreadable (%s)", type(exc).__name__)
        return {"failed_events": "unavailable"}
