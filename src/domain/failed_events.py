"""
A webhook event a handler refused for good, kept durably so an operator can fix and replay it.

The identities (provider, event id and type, handler, error type) and a safe reason are shown
anywhere; the delivery itself (URL, content type, body) is patient data: it is stored so the event
can be parsed and handled again, and it never appears in a repr, a log line or `summary`.
"""

from __future__ import annotations

import attrs


__all__ = ["FailedEvent", "failed_event_id"]

_MAX_TEXT = 200  # identities and reasons are clipped: a hostile event id cannot bloat the log


def failed_event_id(provider: str, event_id: str) -> str:
    """The record's id: the same ``"{provider}:{event_id}"`` the replay store keys events by."""
    return f"{provider}:{event_id}"


def _clip(value: str) -> str:
    return value[:_MAX_TEXT]


def _body_repr(body: bytes) -> str:
    return f"<{len(body)} bytes>"


@attrs.frozen(kw_only=True)
class FailedEvent:
    """
    One permanently failed event: who failed, why (type names only), when, and the delivery.

    ``reason`` must hold no patient data: it is built from error types and field names
    (`app.services.webhook_failures.safe_reason`), never from an exception's message.
    ``attempts`` counts the failures of this event (the first delivery and every failed replay).
    ``resolved_at`` is set once a replay succeeded or an operator said it is handled.
    """

    provider: str = attrs.field(converter=_clip)
    event_id: str = attrs.field(converter=_clip)
    event_type: str = attrs.field(converter=_clip)
    handler: str = attrs.field(converter=_clip)
    error: str = attrs.field(converter=_clip)
    reason: str = attrs.field(converter=_clip)
    first_failed_at: float
    last_failed_at: float
    attempts: int = 1
    resolved_at: float | None = None
    url: str = attrs.field(default="", repr=False)
    content_type: str = attrs.field(default="", repr=False)
    body: bytes = attrs.field(default=b"", repr=_body_repr)

    @property
    def id(self) -> str:
        """The record's id (``"{provider}:{event_id}"``), as the CLI takes it."""
        return failed_event_id(self.provider, self.event_id)

    @property
    def resolved(self) -> bool:
        """True once replayed successfully or marked handled by an operator."""
        return self.resolved_at is not None

    def again(self, later: FailedEvent) -> FailedEvent:
        """This record after ``later`` failed the same event again: one more attempt, reopened."""
        return attrs.evolve(
            later,
            first_failed_at=min(self.first_failed_at, later.first_failed_at),
            attempts=self.attempts + later.attempts,
            resolved_at=None,
        )

    def summary(self) -> dict[str, object]:
        """A JSON-ready copy without the delivery (safe for logs, health checks and the CLI)."""
        return {
            "id": self.id,
            "provider": self.provider,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "handler": self.handler,
            "error": self.error,
            "reason": self.reason,
            "first_failed_at": self.first_failed_at,
            "last_failed_at": self.last_failed_at,
            "attempts": self.attempts,
            "resolved_at": self.resolved_at,
        }
