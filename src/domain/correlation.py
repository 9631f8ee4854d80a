"""
The correlation id: one opaque value that ties a log line, a span and an outbox command to the
delivery or request that caused them.

The webhook ingress sets it per event (`for_event`: a hash, since some providers' event ids embed
a phone number); a host sets its own request id with `correlated`; the outbox stores the value
with each command and the relay restores it while delivering, so the work done hours later in
another process carries the same id. `adapters.telemetry.LogContext` adds it to log records.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token


__all__ = ["correlated", "correlation_id", "for_event"]

_CURRENT: ContextVar[str | None] = ContextVar("portico_correlation_id", default=None)


def correlation_id() -> str | None:
    """The current correlation id, or None outside any delivery or correlated block."""
    return _CURRENT.get()


def for_event(provider: str, event_id: str) -> str:
    """The correlation id of a provider's event: 16 hex digits of its hash (no raw id)."""
    return hashlib.sha256(f"{provider}:{event_id}".encode()).hexdigest()[:16]


class _Correlated:
    """`correlated`'s block: a plain context manager (a generator one costs several times more)."""

    __slots__ = ("_token", "_value")

    def __init__(self, value: str | None) -> None:
        self._value = value
        self._token: Token[str | None] | None = None

    def __enter__(self) -> None:
        if self._value is not None:
            self._token = _CURRENT.set(self._value[:64])

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None


def correlated(value: str | None) -> AbstractContextManager[None]:
    """Run the block with ``value`` as the correlation id (None leaves the current one)."""
    return _Correlated(value)
