"""
Vapi server messages (``{"message": {"type": ..., "call": {"id": ...}, ...}}``) -> call events.

- ``status-update`` -> `CallStatusChanged` (``status``, ``endedReason`` when ended).
- ``end-of-call-report`` -> `CallEnded` with a `CallOutcome`: ``endedReason``; the transcript
  from ``artifact.transcript`` (older payloads: ``message.transcript``); the summary from
  ``analysis.summary`` (or ``message.summary``); the recording from ``artifact.recordingUrl``,
  ``artifact.recording.mono.combinedUrl`` or ``message.recordingUrl``; the duration from
  ``durationSeconds``, ``durationMs`` or ``endedAt - startedAt``.

Vapi's schema (``ServerMessageStatusUpdate`` in VapiAI/docs ``fern/apis/api/openapi.json``)
requires only ``type`` and ``status`` of a status update; ``call`` is optional there, and in the
end-of-call report too. A message without ``call`` names no call, so no event can be keyed to
one: it is counted in ``unknown_types`` (``"status-update:without-call"``), never refused. The
ended reason is the message's ``endedReason``, else ``message.call.endedReason`` ("This can also
be found at ``call.endedReason``", the schema says; the docs' queue-management example report
carries it only there).

Every other type (``tool-calls``, ``transcript``, ``conversation-update``, ``hang``...) goes to
``unknown_types``. ``message.timestamp`` is epoch milliseconds in current payloads and ISO 8601
in older ones; both are read, and the injected clock is used when it is absent.

Dedup key (``event_id``): ``"<call id>:<type>"``, plus ``":<status>"`` for a status update
(``"<id>:status-update:ringing"``): a call reports each status once and its end once, and
Vapi may send a message more than once.
"""

from __future__ import annotations

from datetime import datetime

from ...domain.events import CallEnded, CallStatusChanged, DomainEvent
from ...domain.json_reader import JsonNode, malformed, parse_json
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.voice import CallOutcome, CallStatus
from ...domain.webhooks import ParsedDelivery, WebhookRequest


__all__ = ["VapiParser"]


def _first_text(
    candidates: list[tuple[JsonNode | None, str]], max_length: int = 1_000_000
) -> str | None:
    for node, name in candidates:
        if node is not None:
            found = node.opt_text(name, max_length=max_length)
            if found is not None:
                return found
    return None


class VapiParser:
    """
    `WebhookParser` for Vapi server messages.

    Args:
        clock: the time used when a message carries no ``timestamp``.
    """

    provider = "vapi"

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """The call event the message describes, or its type in ``unknown_types``."""
        message = parse_json(request.body, error=malformed(self.provider)).child("message")
        kind = message.text("type", max_length=100)
        if kind not in ("status-update", "end-of-call-report"):
            return ParsedDelivery(self.provider, unknown_types=(kind,))
        call = message.opt_child("call")
        if call is None:
            return ParsedDelivery(self.provider, unknown_types=(f"{kind}:without-call",))
        call_id = call.text("id", max_length=100)
        ended_reason = _first_text([(message, "endedReason"), (call, "endedReason")], 200)
        at = self._occurred_at(message)
        event: DomainEvent
        if kind == "status-update":
            raw = message.text("status", max_length=64)
            try:
                status = CallStatus(raw)
            except ValueError:
                return ParsedDelivery(self.provider, unknown_types=(f"{kind}:{raw}",))
            event = CallStatusChanged(
                event_id=f"{call_id}:{kind}:{raw}",
                provider=self.provider,
                occurred_at=at,
                call_id=call_id,
                status=status,
                ended_reason=ended_reason,
            )
        else:
            event = CallEnded(
                event_id=f"{call_id}:{kind}",
                provider=self.provider,
                occurred_at=at,
                outcome=self._outcome(message, call_id, ended_reason),
            )
        return ParsedDelivery(self.provider, events=(event,))

    def _occurred_at(self, message: JsonNode) -> datetime:
        if not message.has("timestamp"):
            return self._clock.now()
        stamp = message.raw["timestamp"]
        if isinstance(stamp, str) and not stamp.isdigit():
            return message.iso_time("timestamp")
        return message.timestamp("timestamp", unit=0.001)

    def _outcome(self, message: JsonNode, call_id: str, ended_reason: str | None) -> CallOutcome:
        artifact = message.opt_child("artifact")
        analysis = message.opt_child("analysis")
        recording = artifact.opt_child("recording") if artifact else None
        mono = recording.opt_child("mono") if recording else None
        return message.build(
            lambda: CallOutcome(
                call_id=call_id,
                ended_reason=ended_reason,
                duration_seconds=self._duration(message),
                summary=_first_text([(analysis, "summary"), (message, "summary")]),
                transcript=_first_text([(artifact, "transcript"), (message, "transcript")]),
                recording_url=_first_text(
                    [(artifact, "recordingUrl"), (mono, "combinedUrl"), (message, "recordingUrl")]
                ),
            )
        )

    def _duration(self, message: JsonNode) -> float | None:
        seconds = message.opt_number("durationSeconds")
        if seconds is not None:
            return seconds
        millis = message.opt_number("durationMs")
        if millis is not None:
            return millis / 1000
        if message.opt_text("startedAt") is None or message.opt_text("endedAt") is None:
            return None
        return (message.iso_time("endedAt") - message.iso_time("startedAt")).total_seconds()
