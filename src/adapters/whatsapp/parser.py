"""
WhatsApp Cloud API notifications (Meta, and 360dialog which forwards the same JSON) -> events.

Shape (Graph API v18+): ``{"object": "whatsapp_business_account", "entry": [{"id", "changes":
[{"field": "messages", "value": {"metadata", "contacts", "messages": [...], "statuses":
[...]}}]}]}``. One delivery may batch several entries, changes, messages and statuses.

Dedup keys (``event_id``):
- inbound message -> `MessageReceived`: the message id (``wamid...``); Meta resends the same id.
- status -> `MessageStatusChanged`: ``"<message id>:<status>"``, since one message moves through
  sent, delivered and read with the same id and each step must be processed once. A failed
  status carries ``errors[0].code`` and ``title`` (131047: the text went out of the 24-hour window;
  Meta reports it by webhook after accepting the send, or synchronously, or both: see
  https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
- ``value.errors[]`` (an error of the app or account, tied to no message: Meta's "errors messages
  webhook", https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/errors)
  -> `MessagingErrorReported`, keyed ``"errors:<hash of the delivery>:<position>"``: Meta gives
  these no id, and a redelivery carries the same bytes, so it is deduplicated while a later,
  identical error (another delivery) is not. It is stamped with the parser's clock.

Phone numbers arrive as digits without ``+`` (``"16315551234"``) and become `PhoneNumber`.
Message text is taken from ``text.body``, ``button.text`` or an interactive reply's ``title``;
other kinds (image, audio, location, reaction...) carry ``kind`` and no text. Changes of another
``field`` (``message_template_status_update``...) and unknown statuses go to ``unknown_types``.
"""

from __future__ import annotations

import hashlib

from ...domain.events import (
    DomainEvent,
    MessageReceived,
    MessageStatusChanged,
    MessagingErrorReported,
)
from ...domain.json_reader import JsonNode, malformed, parse_json
from ...domain.messaging import DeliveryStatus, InboundMessage
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.values import PhoneNumber
from ...domain.webhooks import ParsedDelivery, WebhookRequest
from ..http.redact import safe_vendor_text


__all__ = ["WhatsAppParser"]

_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


def _message_text(message: JsonNode, kind: str) -> str | None:
    if kind == "text":
        return message.child("text").opt_text("body")
    if kind == "button":
        button = message.opt_child("button")
        return button.opt_text("text") if button else None
    if kind == "interactive":
        interactive = message.child("interactive")
        for reply in ("button_reply", "list_reply"):
            chosen = interactive.opt_child(reply)
            if chosen is not None:
                return chosen.opt_text("title")
    return None


def _names(value: JsonNode) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in value.items("contacts", required=False):
        profile = contact.opt_child("profile")
        wa_id = contact.opt_text("wa_id", max_length=32)
        name = profile.opt_text("name", max_length=512) if profile else None
        if wa_id and name:
            names[wa_id] = name
    return names


class WhatsAppParser:
    """
    `WebhookParser` for WhatsApp Cloud API notifications.

    Args:
        provider: the name events carry: ``"whatsapp"`` for Meta, ``"360dialog"`` for 360dialog.
        clock: stamps `MessagingErrorReported` (Meta's ``value.errors`` carry no time).
    """

    def __init__(self, provider: str = "whatsapp", *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.provider = provider
        self.clock = clock

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """Every message and status in the delivery, in order."""
        root = parse_json(request.body, error=malformed(self.provider))
        events: list[DomainEvent] = []
        unknown: list[str] = []
        digest = hashlib.sha256(request.body).hexdigest()[:32]
        for entry in root.items("entry"):
            for change in entry.items("changes"):
                field = change.text("field", max_length=200)
                if field != "messages":
                    unknown.append(field)
                    continue
                value = change.child("value")
                names = _names(value)
                events.extend(
                    self._received(m, names) for m in value.items("messages", required=False)
                )
                for status in value.items("statuses", required=False):
                    event = self._status(status)
                    if event is None:
                        unknown.append(f"status:{status.text('status', max_length=64)}")
                    else:
                        events.append(event)
                for error in value.items("errors", required=False):
                    events.append(self._error(error, f"errors:{digest}:{len(events)}"))
        return ParsedDelivery(self.provider, events=tuple(events), unknown_types=tuple(unknown))

    def _received(self, message: JsonNode, names: dict[str, str]) -> MessageReceived:
        message_id = message.text("id", max_length=256)
        sender_digits = message.text("from", max_length=32)
        kind = message.text("type", max_length=64)
        at = message.timestamp("timestamp")
        inbound = message.build(
            lambda: InboundMessage(
                message_id=message_id,
                sender=PhoneNumber.parse("+" + sender_digits.lstrip("+"), field="from"),
                received_at=at,
                provider=self.provider,
                text=_message_text(message, kind),
                kind=kind,
                sender_name=names.get(sender_digits),
            )
        )
        return MessageReceived(
            event_id=message_id, provider=self.provider, occurred_at=at, message=inbound
        )

    def _status(self, status: JsonNode) -> MessageStatusChanged | None:
        message_id = status.text("id", max_length=256)
        raw = status.text("status", max_length=64)
        at = status.timestamp("timestamp")
        mapped = _STATUSES.get(raw)
        if mapped is None:
            return None
        errors = status.items("errors", required=False)
        error_code = errors[0].identifier("code", max_length=32) if errors else None
        title = safe_vendor_text(errors[0].raw.get("title")) if errors else None
        return MessageStatusChanged(
            event_id=f"{message_id}:{raw}",
            provider=self.provider,
            occurred_at=at,
            message_id=message_id,
            status=mapped,
            error_code=error_code,
            error_title=title,
        )

    def _error(self, error: JsonNode, event_id: str) -> MessagingErrorReported:
        """One of ``value.errors[]``: ``{code, title, message, error_data: {details}, href}``."""
        code = error.identifier("code", max_length=32) if error.has("code") else None
        data = error.raw.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        return MessagingErrorReported(
            event_id=event_id,
            provider=self.provider,
            occurred_at=self.clock.now(),
            code=code,
            title=safe_vendor_text(error.raw.get("title") or error.raw.get("message")),
            details=safe_vendor_text(details),
        )
