"""
What each console page shows, read from the stores and made safe to show: ids, counts, ages,
type names and vendor reasons with phone numbers and emails masked (`safe_vendor_text`); never a
payload, a delivery's body, a secret or a full phone number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ....adapters.http.redact import safe_vendor_text
from ....adapters.resilience import BreakerRegistry
from ....domain.breaker_control import BreakerOverride
from ....domain.failed_events import FailedEvent
from ....domain.operator_actions import OperatorAction
from ....domain.outbox import OutboxEntry, OutboxStatus
from ...services.outbox_requeue import is_maybe_sent


__all__ = [
    "action_rows",
    "age",
    "backlog_rows",
    "breaker_rows",
    "event_rows",
    "letter_rows",
    "when",
]


def when(seconds: float | None) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SSZ`` (``-`` for none)."""
    if seconds is None:
        return "-"
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M:%S}Z"


def age(seconds: float | None) -> str:
    """A duration as ``42s``, ``3.5m``, ``2.0h``, ``1.5d`` (``-`` for none)."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _safe(text: str | None, fallback: str = "-") -> str:
    return safe_vendor_text(text) or fallback


def backlog_rows(status: OutboxStatus) -> list[dict[str, object]]:
    """One row per integration (counts and the oldest pending command's age) and a total."""
    rows: list[dict[str, object]] = []
    for b in status.integrations:
        oldest = None if b.oldest_pending_at is None else status.now - b.oldest_pending_at
        rows.append(
            {
                "integration": b.integration,
                "pending": b.pending,
                "in_flight": b.in_flight,
                "dead": b.dead,
                "delivered": b.delivered,
                "oldest": age(oldest),
            }
        )
    if rows:
        rows.append(
            {
                "integration": "total",
                "pending": status.pending,
                "in_flight": status.in_flight,
                "dead": status.dead,
                "delivered": status.delivered,
                "oldest": age(status.oldest_age),
            }
        )
    return rows


def letter_rows(letters: Sequence[OutboxEntry]) -> list[dict[str, object]]:
    """The dead letters: identity, attempts, when, the vendor's reason (masked), maybe sent."""
    return [
        {
            "id": e.id,
            "kind": e.kind,
            "integration": e.integration,
            "attempts": e.attempts,
            "when": when(e.finished_at or e.enqueued_at),
            "reason": _safe(e.last_error, "no reason recorded"),
            "maybe_sent": is_maybe_sent(e),
        }
        for e in letters
    ]


def event_rows(events: Sequence[FailedEvent]) -> list[dict[str, object]]:
    """The failed webhook events: identity, type, handler, attempts, when, safe reason."""
    return [
        {
            "id": e.id,
            "event_type": e.event_type,
            "handler": e.handler,
            "attempts": e.attempts,
            "when": when(e.last_failed_at),
            "reason": _safe(e.reason),
        }
        for e in events
    ]


def breaker_rows(
    registry: BreakerRegistry, overrides: Mapping[str, BreakerOverride], now: float
) -> list[dict[str, object]]:
    """Each breaker's state, counters, and the operator override in force (and for how long)."""
    rows: list[dict[str, object]] = []
    for health in registry.snapshot():
        stats = health.stats
        row = overrides.get(stats.name)
        mode = None if row is None else row.active(now)
        if mode is None:
            override = "no override"
        elif row is not None and row.until is not None:
            override = f"operator: {mode} for {age(row.until - now)} more"
        else:
            override = f"operator: {mode} until released"
        circuit = stats.state.value.replace("_", " ").upper()
        if stats.state.value == "open":
            circuit += f" (probe in {stats.retry_in:.0f}s)"
        last = stats.last_success
        rows.append(
            {
                "name": stats.name,
                "state": stats.state.value,
                "circuit": circuit,
                "failures": stats.failures,
                "rejections": stats.rejections,
                "last_success": "never" if last is None else f"{age(health.now - last)} ago",
                "threshold": f"{stats.failure_threshold} failures, reset {stats.reset_timeout:g}s",
                "override": override,
                "overridden": mode is not None,
            }
        )
    return rows


def action_rows(actions: Sequence[OperatorAction]) -> list[dict[str, object]]:
    """The action log, newest first."""
    return [
        {
            "when": when(a.at),
            "operator": a.operator,
            "action": a.action,
            "target": a.target,
            "ok": a.ok,
            "result": _safe(a.result),
        }
        for a in actions
    ]
