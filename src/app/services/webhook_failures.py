"""
Which handler failures are permanent, and a bounded memory of the recent ones for operators.

A handler that raises `PermanentError` or `InvalidValue` (say a HubSpot contact with neither phone
nor email) will fail the same way on every redelivery, and the providers retry a 5xx for days. Such
an event is completed instead, counted, logged at ERROR and kept here (event id and type, the
handler and the error's type: never its message, which may quote patient data), so an operator
sees it on ``/healthz/webhooks`` and can replay it by hand once the cause is fixed.

`AuthenticationFailed` and `PermissionDenied` are the exception: our credentials or scopes are
wrong, the operator fixes them, and the provider's retry then succeeds, so they stay transient here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import attrs

from domain.errors import AuthenticationFailed, InvalidValue, PermanentError, PermissionDenied


__all__ = ["DEFAULT_RECENT_FAILURES", "HandlerFailure", "RecentFailures", "is_permanent"]

DEFAULT_RECENT_FAILURES = 50


def is_permanent(error: BaseException) -> bool:
    """True when redelivering the same event cannot make the handler succeed."""
    if isinstance(error, AuthenticationFailed | PermissionDenied):
        return False
    return isinstance(error, PermanentError | InvalidValue)


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
    clock: Callable[[], float] = time.time
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
        failure = HandlerFailure(self.clock(), provider, event_id, event_type, handler, error)
        self._items.append(failure)
        return failure

    def snapshot(self) -> list[dict[str, object]]:
        """Newest first, JSON-ready."""
        return [failure.snapshot() for failure in reversed(self._items)]
