"""
Twilio Programmable Messaging webhooks (form-encoded) -> message events.

Two kinds of request reach the same parser:
- a status callback (``MessageSid``, ``MessageStatus``, ``ErrorCode``) -> `MessageStatusChanged`;
- an incoming message (``MessageSid``, ``From``, ``Body``, ``SmsStatus=received``) ->
  `MessageReceived`. ``From`` may be ``whatsapp:+...`` for WhatsApp through Twilio.

Dedup key (``event_id``): ``"<MessageSid>:<status>"`` (``"<MessageSid>:received"`` for an
incoming message): Twilio calls back once per status change of one message, each with the same
sid, and retries a failed callback with the same pair.

Statuses map through the one table in `adapters.twilio.statuses` (shared with the REST adapter);
a status it does not know goes to ``unknown_types``. The form carries no event time, so
``occurred_at`` is the time of receipt from the injected clock. The legacy ``SmsSid`` /
``SmsStatus`` names are accepted when the ``Message*`` ones are absent.

Throttling that Twilio reports after accepting a message: 14107 ("SMS send rate limit exceeded",
more than 30 replies between two numbers within 30 s) is never a REST error; Twilio accepts the
message and then sets it ``failed`` for 30 s (https://www.twilio.com/docs/api/errors/14107). Such a
failed status carries ``retry_after`` (`THROTTLED`), so the application can send again later.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from ...domain.events import MessageReceived, MessageStatusChanged
from ...domain.json_reader import JsonNode, malformed
from ...domain.messaging import DeliveryStatus, InboundMessage
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.values import PhoneNumber
from ...domain.webhooks import ParsedDelivery, WebhookRequest
from .statuses import INBOUND_STATUSES, delivery_status


__all__ = ["THROTTLED", "TwilioParser"]

# Error code of a failed status -> (its title, seconds after which the message may go again).
THROTTLED: dict[str, tuple[str, float]] = {"14107": ("SMS send rate limit exceeded", 30.0)}


def _load_form(body: bytes, provider: str) -> JsonNode:
    """An ``application/x-www-form-urlencoded`` body; the first value of a name wins."""
    error = malformed(provider)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise error("form", "not UTF-8 form data") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return JsonNode(fields, error=error, path="form")


def _first(form: JsonNode, *names: str) -> str:
    for name in names:
        if form.has(name):
            return name
    return names[0]


class TwilioParser:
    """
    `WebhookParser` for Twilio messaging status callbacks and incoming messages.

    Args:
        clock: the time of receipt, stamped on events (Twilio's form has no event time).
    """

    provider = "twilio"

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """The status change or incoming message the form describes."""
        form = _load_form(request.body, self.provider)
        sid = form.text(_first(form, "MessageSid", "SmsSid"), max_length=64)
        status = form.opt_text(_first(form, "MessageStatus", "SmsStatus"), max_length=64)
        if status is None:
            if not form.has("Body") and not form.has("NumMedia"):
                form.fail("missing", "MessageStatus")
            status = "received"
        status = status.lower()
        if status in INBOUND_STATUSES:
            return ParsedDelivery(self.provider, events=(self._received(form, sid),))
        mapped = delivery_status(status)
        if mapped is None:
            return ParsedDelivery(self.provider, unknown_types=(f"status:{status}",))
        code = form.opt_text("ErrorCode", max_length=16)
        throttled = THROTTLED.get(code or "") if mapped is DeliveryStatus.FAILED else None
        event = MessageStatusChanged(
            event_id=f"{sid}:{status}",
            provider=self.provider,
            occurred_at=self._clock.now(),
            message_id=sid,
            status=mapped,
            error_code=code,
            error_title=throttled[0] if throttled else None,
            retry_after=throttled[1] if throttled else None,
        )
        return ParsedDelivery(self.provider, events=(event,))

    def _received(self, form: JsonNode, sid: str) -> MessageReceived:
        sender = form.text("From", max_length=64).removeprefix("whatsapp:")
        media = form.opt_integer("NumMedia", minimum=0) or 0
        at = self._clock.now()
        inbound = form.build(
            lambda: InboundMessage(
                message_id=sid,
                sender=PhoneNumber.parse(sender, field="From"),
                received_at=at,
                provider=self.provider,
                text=form.opt_text("Body", max_length=1600 * 10),
                kind="media" if media else "text",
                sender_name=form.opt_text("ProfileName", max_length=256),
            )
        )
        return MessageReceived(
            event_id=f"{sid}:received", provider=self.provider, occurred_at=at, message=inbound
        )
