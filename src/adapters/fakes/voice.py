"""
`FakeVoice`: an in-memory Vapi (outbound phone calls placed by an AI assistant).

Like Vapi: calls have UUID ids, start QUEUED, move forward through ringing and in-progress to
ended (never back), carry an ``endedReason`` once ended, and end with a report (summary,
transcript, recording) delivered by the end-of-call webhook.

Like `adapters.vapi.VapiVoice` (which reconciles, since Vapi takes no key): a start with an
idempotency key seen in the last 24 hours returns that key's call as it is now and rings nobody;
the same key on a different request (number, assistant, metadata) is `Conflict`. Without a key
every start places a new call.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import ClassVar

import attrs

from ...domain.errors import Conflict, InvalidRequest, NotFound
from ...domain.events import CallEnded, CallStatusChanged
from ...domain.voice import Call, CallOutcome, CallRequest, CallStatus
from ...ports.voice import VoicePort
from ._support import FakeBase


__all__ = ["FakeVoice"]

PROVIDER = "vapi"
KEY_LIFETIME = timedelta(hours=24)  # VapiVoice's default look-back window
_ORDER = (
    CallStatus.SCHEDULED,
    CallStatus.QUEUED,
    CallStatus.RINGING,
    CallStatus.IN_PROGRESS,
    CallStatus.FORWARDING,
    CallStatus.ENDED,
)


_Fingerprint = tuple[str, str, Mapping[str, str]]


def _fingerprint(request: CallRequest) -> _Fingerprint:
    """What a repeated keyed start must match: number, assistant and metadata."""
    return (request.to.e164, request.assistant_id, dict(request.metadata))


def _not_found() -> NotFound:
    return NotFound("no such call", integration=PROVIDER, status_code=404)


@attrs.define(repr=False)
class FakeVoice(FakeBase, VoicePort):
    """
    Vapi as a test double you can ship. Drive calls with `progress` and `finish`.

    Args:
        assistants: assistant ids that exist; None accepts any id.
        blocked_prefixes: E.164 prefixes the platform refuses to dial (by default the NANP
            premium-rate 1-900 range).
    """

    INTEGRATION: ClassVar[str] = PROVIDER

    assistants: Collection[str] | None = attrs.field(default=None, kw_only=True)
    blocked_prefixes: Collection[str] = attrs.field(default=("+1900",), kw_only=True)
    calls_made: dict[str, Call] = attrs.field(factory=dict, init=False)
    outcomes: dict[str, CallOutcome] = attrs.field(factory=dict, init=False)
    _answered_at: dict[str, datetime] = attrs.field(factory=dict, init=False)
    _keys: dict[str, tuple[_Fingerprint, str, datetime]] = attrs.field(factory=dict, init=False)

    async def start_call(self, request: CallRequest) -> Call:
        """Queue a call from the assistant to the patient; a known key returns its call."""
        await self.faults.before("start_call", request)
        started = self._started_with(request)
        if started is not None:
            return started
        if self.assistants is not None and request.assistant_id not in self.assistants:
            raise NotFound("no such assistant", integration=PROVIDER, status_code=404)
        if any(request.to.e164.startswith(p) for p in self.blocked_prefixes):
            raise InvalidRequest(
                "the platform does not dial this number range",
                integration=PROVIDER,
                status_code=400,
            )
        call = Call(
            id=self._ids.uuid4(),
            status=CallStatus.QUEUED,
            to=request.to,
            assistant_id=request.assistant_id,
            created_at=self.clock.now(),
            metadata=request.metadata,
        )
        self.calls_made[call.id] = call
        if request.idempotency_key is not None:
            self._keys[request.idempotency_key.value] = (
                _fingerprint(request),
                call.id,
                self.clock.now(),
            )
        return call

    def _started_with(self, request: CallRequest) -> Call | None:
        if request.idempotency_key is None:
            return None
        remembered = self._keys.get(request.idempotency_key.value)
        if remembered is None or self.clock.now() - remembered[2] >= KEY_LIFETIME:
            return None
        fingerprint, call_id, _ = remembered
        if fingerprint != _fingerprint(request):
            raise Conflict(
                "this idempotency key already started a call for a different request",
                integration=PROVIDER,
                request_sent=False,
            )
        return self.calls_made[call_id]

    async def get_call(self, call_id: str) -> Call:
        """The call with this id."""
        await self.faults.before("get_call", call_id)
        return self._call(call_id)

    async def end_call(self, call_id: str) -> Call:
        """Hang up a live call; an ended call is returned unchanged."""
        await self.faults.before("end_call", call_id)
        call = self._call(call_id)
        if call.status is CallStatus.ENDED:
            return call
        self.finish(call_id, ended_reason="manually-canceled")
        return self.calls_made[call_id]

    # ---------------------------------------------------------------- vendor-side controls

    def progress(
        self, call_id: str, status: CallStatus, *, ended_reason: str | None = None
    ) -> CallStatusChanged:
        """
        Vapi reports a new status: the stored status moves forward only; returns the webhook.
        """
        call = self._call(call_id)
        if _ORDER.index(status) > _ORDER.index(call.status):
            if status is CallStatus.IN_PROGRESS:
                self._answered_at[call_id] = self.clock.now()
            reason = (ended_reason or "customer-ended-call") if status is CallStatus.ENDED else None
            call = attrs.evolve(call, status=status, ended_reason=reason)
            self.calls_made[call_id] = call
        return self._emit(
            CallStatusChanged(
                event_id=f"{call_id}:{status.value}",
                provider=PROVIDER,
                occurred_at=self.clock.now(),
                call_id=call_id,
                status=status,
                ended_reason=call.ended_reason,
            )
        )

    def finish(
        self,
        call_id: str,
        *,
        summary: str | None = None,
        transcript: str | None = None,
        ended_reason: str = "customer-ended-call",
    ) -> CallEnded:
        """The call ends with a report: returns the end-of-call-report webhook's event."""
        call = self._call(call_id)
        if call.status is not CallStatus.ENDED:
            self.progress(call_id, CallStatus.ENDED, ended_reason=ended_reason)
            call = self.calls_made[call_id]
        answered = self._answered_at.get(call_id)
        outcome = CallOutcome(
            call_id=call_id,
            ended_reason=call.ended_reason,
            duration_seconds=(self.clock.now() - answered).total_seconds() if answered else 0.0,
            summary=summary,
            transcript=transcript,
            recording_url=(
                f"https://storage.vapi.ai/{call_id}-{self._ids.token(13, '0123456789')}-mono.wav"
                if answered
                else None
            ),
        )
        self.outcomes[call_id] = outcome
        return self._emit(
            CallEnded(
                event_id=f"{call_id}:end-of-call-report",
                provider=PROVIDER,
                occurred_at=self.clock.now(),
                outcome=outcome,
            )
        )

    def _counts(self) -> dict[str, int]:
        return {"calls_made": len(self.calls_made), **super()._counts()}

    def reset(self) -> None:
        """Forget calls, outcomes, idempotency keys, faults and events."""
        super().reset()
        self.calls_made.clear()
        self.outcomes.clear()
        self._answered_at.clear()
        self._keys.clear()

    def _call(self, call_id: str) -> Call:
        try:
            return self.calls_made[call_id]
        except KeyError:
            raise _not_found() from None
