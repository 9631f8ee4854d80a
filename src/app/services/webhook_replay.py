"""
Replays a recorded permanent failure through the ingress's handlers, once the cause is fixed.

The stored delivery is parsed again by the provider's parser (not verified again: it was verified
when it arrived, and signatures expire), the event with the recorded id is picked out and run
through the handlers registered for its type, exactly as the ingress would. Handlers that had
succeeded before the failing one run again: they must be idempotent per ``event_id`` anyway.

A replay holds a claim in the replay store (``replay:{id}:{attempts}``), so two operators
replaying the same record at once process it once. Success resolves the record; a permanent
failure records one more attempt; a transient one leaves the record as it was, to try again.
"""

from __future__ import annotations

import asyncio
import enum

import attrs

from ...domain.errors import WebhookRejected
from ...domain.failed_events import FailedEvent
from ...domain.webhooks import WebhookRequest
from ...ports.failed_events import FailedEventLog
from .webhook_failures import failed_event, is_permanent
from .webhook_ingress import WebhookIngress, handler_name_of


__all__ = ["ReplayOutcome", "ReplayResult", "replay_failed"]

REPLAY_LEASE_SECONDS = 300.0


class ReplayOutcome(enum.Enum):
    """What a replay did."""

    PROCESSED = "processed"  # every handler succeeded; the record is resolved
    FAILED_AGAIN = "failed_again"  # a handler refused it for good again; one more attempt
    RETRY_LATER = "retry_later"  # a transient failure; the record is unchanged
    NOT_FOUND = "not_found"
    ALREADY_RESOLVED = "already_resolved"
    IN_PROGRESS = "in_progress"  # another replay of this record holds the claim
    UNREADABLE = "unreadable"  # provider not served, delivery refused by the parser, event gone


@attrs.frozen
class ReplayResult:
    """The outcome, the record as it stands afterwards, and a safe detail (type names only)."""

    outcome: ReplayOutcome
    record: FailedEvent | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the event is now handled."""
        return self.outcome is ReplayOutcome.PROCESSED


async def replay_failed(ingress: WebhookIngress, log: FailedEventLog, id: str) -> ReplayResult:
    """Run the recorded event ``id`` through ``ingress``'s handlers; never logs the delivery."""
    record = await log.get(id)
    if record is None:
        return ReplayResult(ReplayOutcome.NOT_FOUND)
    if record.resolved:
        return ReplayResult(ReplayOutcome.ALREADY_RESOLVED, record)
    claim = await ingress.replay_store.claim(
        f"replay:{record.id}:{record.attempts}", lease_seconds=REPLAY_LEASE_SECONDS
    )
    if not claim.claimed:
        return ReplayResult(ReplayOutcome.IN_PROGRESS, record)
    try:
        result = await _run(ingress, log, record)
    except BaseException:
        await ingress.replay_store.release(claim)
        raise
    if result.ok:
        await ingress.replay_store.complete(claim)
    else:
        await ingress.replay_store.release(claim)
    return result


async def _run(ingress: WebhookIngress, log: FailedEventLog, record: FailedEvent) -> ReplayResult:
    endpoint = ingress.endpoints.get(record.provider)
    if endpoint is None:
        return ReplayResult(ReplayOutcome.UNREADABLE, record, "provider not served")
    headers = {"content-type": record.content_type} if record.content_type else {}
    request = WebhookRequest("POST", record.url, headers, record.body)
    try:
        delivery = endpoint.parser.parse(request)
    except WebhookRejected as exc:
        return ReplayResult(ReplayOutcome.UNREADABLE, record, type(exc).__name__)
    events = [e for e in delivery.events if e.event_id == record.event_id]
    if not events:
        return ReplayResult(ReplayOutcome.UNREADABLE, record, "event not in the delivery")
    event = events[0]
    name = ""
    try:
        for handler in ingress.handlers_for(type(event)):
            name = handler_name_of(handler)
            await handler(event)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported by type, never by message
        if not is_permanent(exc):
            return ReplayResult(ReplayOutcome.RETRY_LATER, record, type(exc).__name__)
        at = ingress.clock.now().timestamp()
        again = failed_event(record.provider, event, request, name, exc, at)
        stored = await log.record(again)
        return ReplayResult(ReplayOutcome.FAILED_AGAIN, stored, stored.reason)
    await log.resolve(record.id)
    return ReplayResult(ReplayOutcome.PROCESSED, await log.get(record.id))
