"""
Follow-up calls: the voice assistant calls a patient back, and the call's outcome lands in the CRM.

The call carries the contact id in its metadata, so the end-of-call webhook finds the contact.
Starting a call is asked for by the host, so it is sent now and falls back to the outbox on an
outage (`StartCall` is redeliverable: the voice adapter reconciles by key). The outcome note is
written by a webhook, so it is always enqueued, keyed by the call id: a redelivered end-of-call
report adds no second note.
"""

from __future__ import annotations

import logging

import attrs

from ...domain.commands import AddNote, StartCall
from ...domain.errors import InvalidValue
from ...domain.events import CallEnded
from ...domain.values import IdempotencyKey
from ...domain.voice import Call, CallOutcome, CallRequest
from ...ports.crm import CRMPort
from ...ports.voice import VoicePort
from ._outreach import enqueue_once
from .outbox_dispatch import CommandDispatch, DeliveryMode, Dispatched
from .webhook_values import Subscription


__all__ = ["CallRequested", "FollowUpCalls"]

logger = logging.getLogger("portico.services")


@attrs.frozen
class CallRequested:
    """A requested call: placed now (``call``), or waiting in the outbox (``delivery.entry_id``)."""

    delivery: Dispatched

    @property
    def call(self) -> Call | None:
        """The call the voice platform started; None while the request waits in the outbox."""
        result = self.delivery.result
        return result if isinstance(result, Call) else None

    @property
    def queued(self) -> bool:
        """True when the relay will place the call once the voice platform is back."""
        return self.delivery.queued


@attrs.frozen
class FollowUpCalls:
    """
    Have the voice assistant call contacts back and note what came of it.

    Args:
        voice, crm: the ports read directly (the call's metadata, the contact's phone).
        dispatch: sends or enqueues every outbound command (`OutboxDispatch`).
        assistant_id: the voice platform's assistant that places the calls.
        request_mode: how a requested call goes (`DeliveryMode.SEND_NOW`: now, the outbox on an
            outage).
    """

    voice: VoicePort
    crm: CRMPort
    dispatch: CommandDispatch
    assistant_id: str
    request_mode: DeliveryMode = DeliveryMode.SEND_NOW

    async def request_call(
        self, contact_id: str, *, reason: str = "follow-up", key: IdempotencyKey | None = None
    ) -> CallRequested:
        """
        Call the contact's phone; ``reason`` is a label, never patient data.

        Pass the same ``key`` when retrying a request whose answer was lost: the patient is rung
        once. Without one, every request is a new call.
        """
        contact = await self.crm.get_contact(contact_id)
        if contact.phone is None:
            raise InvalidValue("phone", "the contact has no phone number to call")
        request = CallRequest(
            to=contact.phone,
            assistant_id=self.assistant_id,
            metadata={"contact_id": contact_id, "reason": reason},
            idempotency_key=key or IdempotencyKey.new(),
        )
        return CallRequested(await self.dispatch.submit(StartCall(request), mode=self.request_mode))

    async def record_outcome(self, outcome: CallOutcome) -> Dispatched | None:
        """
        Enqueue the call's summary as a note on its contact, once per call.

        None for a call that is not ours (no contact in its metadata).
        """
        call = await self.voice.get_call(outcome.call_id)
        contact_id = call.metadata.get("contact_id")
        if not contact_id:
            logger.warning("call %s carries no contact; not ours, ignored", outcome.call_id)
            return None
        reason = call.metadata.get("reason", "follow-up")
        duration = (
            f"{outcome.duration_seconds:.0f} s" if outcome.duration_seconds is not None else "?"
        )
        lines = [
            f"Voice call ({reason}) ended: {outcome.ended_reason or 'unknown reason'}, {duration}.",
            f"Summary: {outcome.summary or 'none given.'}",
        ]
        if outcome.recording_url:
            lines.append(f"Recording: {outcome.recording_url}")
        key = IdempotencyKey.derive("call-outcome", outcome.call_id)
        return await enqueue_once(self.dispatch, AddNote(contact_id, "\n".join(lines), key))

    async def on_call_ended(self, event: CallEnded) -> None:
        """Webhook handler: every ended call's outcome is noted (through the outbox)."""
        await self.record_outcome(event.outcome)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The events this service reacts to, for the webhook ingress."""
        return ((CallEnded, self.on_call_ended),)
