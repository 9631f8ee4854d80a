"""
The outbox's health as numbers: shared by ``portico health`` and ``GET /healthz/outbox``.

Dead letters and commands stuck pending are the failures a webhook's ``200`` hides (handlers only
enqueue), so monitoring needs them as numbers and as a verdict. Counts only: never a payload.
"""

from __future__ import annotations

from ...domain.outbox import OutboxStatus


__all__ = ["DEFAULT_MAX_PENDING_AGE", "outbox_counts", "outbox_problems"]

DEFAULT_MAX_PENDING_AGE = 15 * 60.0  # seconds; a relay that runs clears pending within seconds


def outbox_problems(status: OutboxStatus, *, max_pending_age: float) -> list[str]:
    """Why the outbox is degraded (dead letters, a pending command too old); empty when fine."""
    problems = []
    if status.dead:
        problems.append(
            f"{status.dead} dead letter(s): see `portico outbox dead`, then requeue or purge"
        )
    age = status.oldest_age
    if age is not None and age > max_pending_age:
        problems.append(
            f"oldest pending command waited {age:.0f}s (> {max_pending_age:.0f}s): "
            "is a relay running (`portico serve` or `portico relay`)?"
        )
    return problems


def outbox_counts(status: OutboxStatus, *, max_pending_age: float) -> dict[str, object]:
    """The ``/healthz/outbox`` document: totals, per-integration counts and a verdict."""
    age = status.oldest_age
    return {
        "status": "degraded" if outbox_problems(status, max_pending_age=max_pending_age) else "ok",
        "pending": status.pending,
        "in_flight": status.in_flight,
        "dead": status.dead,
        "oldest_pending_age_seconds": None if age is None else round(age, 3),
        "max_pending_age_seconds": max_pending_age,
        "integrations": {
            b.integration: {
                "pending": b.pending,
                "in_flight": b.in_flight,
                "dead": b.dead,
                "delivered": b.delivered,
            }
            for b in status.integrations
        },
    }
