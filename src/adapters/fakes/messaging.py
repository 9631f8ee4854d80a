"""
`FakeMessaging`: an in-memory WhatsApp Cloud API.

Like Meta, it hands out ``wamid.`` ids, accepts a message as QUEUED, moves statuses forward only
(a late "sent" webhook never undoes "read"), and refuses a free-form text outside the 24-hour
customer-care window that the patient's last inbound message opened.

Meta reports that refusal (131047) synchronously, asynchronously through the webhook, or both
(https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
``window_errors`` picks the path: ``"sync"`` raises `InvalidRequest` (HTTP 400, code 131047);
``"async"`` accepts the text (a wamid, QUEUED) and emits the ``failed`` status event carrying
131047 that Meta's webhook would deliver.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import ClassVar, Literal

import attrs

from ...domain.errors import InvalidRequest, NotFound
from ...domain.events import MessageReceived, MessageStatusChanged
from ...domain.messaging import (
    DeliveryStatus,
    InboundMessage,
    MessageReceipt,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
)
from ...domain.values import PhoneNumber
from ...ports.messaging import MessagingPort
from ._support import FakeBase


__all__ = ["FakeMessaging"]

PROVIDER = "whatsapp"
WINDOW = timedelta(hours=24)
OUTSIDE_WINDOW = "131047"
OUTSIDE_WINDOW_TITLE = "Re-engagement message"  # Meta's title for 131047
WindowErrors = Literal["sync", "async"]


@attrs.define
class _Sent:
    message: OutboundMessage
    status: DeliveryStatus


@attrs.define(repr=False)
class FakeMessaging(FakeBase, MessagingPort):
    """
    WhatsApp as a test double you can ship: real ids, statuses, window and template rules.

    Args:
        enforce_window: refuse free-form text unless the patient wrote in the last 24 hours
            (Meta's error 131047). Off makes every text allowed, except to a patient whose
            window was closed with `close_window`.
        approved_templates: template names Meta would accept; None accepts any name.
        window_errors: how a text outside the window fails: ``"sync"`` (the send raises
            131047) or ``"async"`` (accepted, then a ``failed`` status event with 131047 is
            emitted, as Meta's webhook reports it).
    """

    INTEGRATION: ClassVar[str] = PROVIDER

    enforce_window: bool = attrs.field(default=True, kw_only=True)
    approved_templates: Collection[str] | None = attrs.field(default=None, kw_only=True)
    window_errors: WindowErrors = attrs.field(
        default="sync", kw_only=True, validator=attrs.validators.in_(("sync", "async"))
    )
    _sent: dict[str, _Sent] = attrs.field(factory=dict, init=False)
    _last_inbound: dict[str, datetime] = attrs.field(factory=dict, init=False)
    _closed: set[str] = attrs.field(factory=set, init=False)
    inbound: list[InboundMessage] = attrs.field(factory=list, init=False)

    async def send(self, message: OutboundMessage) -> MessageReceipt:
        """Accept a message as QUEUED, or refuse it as Meta would."""
        await self.faults.before("send", message)
        outside = isinstance(message, TextMessage) and not self._window_open(message.to)
        if outside and self.window_errors == "sync":
            raise InvalidRequest(
                "free-form text outside the 24-hour customer-care window; send a template",
                integration=PROVIDER,
                vendor_code=OUTSIDE_WINDOW,
                status_code=400,
            )
        if (
            isinstance(message, TemplateMessage)
            and self.approved_templates is not None
            and message.template not in self.approved_templates
        ):
            raise InvalidRequest(
                "template name does not exist in the translation",
                integration=PROVIDER,
                vendor_code="132001",
                status_code=404,
            )
        message_id = self._new_id()
        self._sent[message_id] = _Sent(message, DeliveryStatus.QUEUED)
        if outside:  # window_errors == "async": accepted now, reported failed by webhook
            self.advance(message_id, DeliveryStatus.FAILED, error_code=OUTSIDE_WINDOW)
        return MessageReceipt(message_id, DeliveryStatus.QUEUED, PROVIDER)

    async def get_status(self, message_id: str) -> MessageReceipt:
        """The furthest status the message has reached."""
        await self.faults.before("get_status", message_id)
        sent = self._sent.get(message_id)
        if sent is None:
            raise NotFound("no such message", integration=PROVIDER, status_code=404)
        return MessageReceipt(message_id, sent.status, PROVIDER)

    # ---------------------------------------------------------------- vendor-side controls

    def receive(
        self, sender: PhoneNumber | str, text: str | None, *, name: str | None = None
    ) -> MessageReceived:
        """A patient writes to us: opens the 24-hour window and returns the webhook's event."""
        phone = (
            sender if isinstance(sender, PhoneNumber) else PhoneNumber.parse(sender, field="sender")
        )
        now = self.clock.now()
        message = InboundMessage(
            message_id=self._new_id(),
            sender=phone,
            received_at=now,
            provider=PROVIDER,
            text=text,
            kind="text" if text is not None else "unsupported",
            sender_name=name,
        )
        self.inbound.append(message)
        self._last_inbound[phone.e164] = now
        self._closed.discard(phone.e164)
        return self._emit(
            MessageReceived(
                event_id=message.message_id, provider=PROVIDER, occurred_at=now, message=message
            )
        )

    def advance(
        self, message_id: str, status: DeliveryStatus, *, error_code: str | None = None
    ) -> MessageStatusChanged:
        """
        Meta reports a new status for a message: returns the status webhook's event.

        The stored status moves forward only, so an out-of-order webhook changes nothing.
        """
        sent = self._sent.get(message_id)
        if sent is None:
            raise NotFound("no such message", integration=PROVIDER, status_code=404)
        if not sent.status.is_final() and status.rank > sent.status.rank:
            sent.status = status
        return self._emit(
            MessageStatusChanged(
                event_id=f"{message_id}:{status.value}",
                provider=PROVIDER,
                occurred_at=self.clock.now(),
                message_id=message_id,
                status=status,
                error_code=error_code,
                error_title=OUTSIDE_WINDOW_TITLE if error_code == OUTSIDE_WINDOW else None,
            )
        )

    def close_window(self, phone: PhoneNumber | str) -> None:
        """
        The patient last wrote over 24 hours ago: free-form text to them is refused (131047)
        until they write again, even with ``enforce_window`` off.
        """
        e164 = phone.e164 if isinstance(phone, PhoneNumber) else PhoneNumber(phone).e164
        self._last_inbound.pop(e164, None)
        self._closed.add(e164)

    def sent_to(self, phone: PhoneNumber | str) -> list[OutboundMessage]:
        """Every message accepted for ``phone``, oldest first."""
        e164 = phone.e164 if isinstance(phone, PhoneNumber) else PhoneNumber(phone).e164
        return [s.message for s in self._sent.values() if s.message.to.e164 == e164]

    def _counts(self) -> dict[str, int]:
        return {"sent": len(self._sent), "inbound": len(self.inbound), **super()._counts()}

    def reset(self) -> None:
        """Forget messages, windows, faults and events."""
        super().reset()
        self._sent.clear()
        self._last_inbound.clear()
        self._closed.clear()
        self.inbound.clear()

    def _window_open(self, phone: PhoneNumber) -> bool:
        if phone.e164 in self._closed:
            return False
        if not self.enforce_window:
            return True
        last = self._last_inbound.get(phone.e164)
        return last is not None and self.clock.now() - last < WINDOW

    def _new_id(self) -> str:
        # Meta's ids are base64 of a small binary blob; Meta's embed the recipient's number, ours
        # do not, so an id in a log never carries patient data.
        raw = b"\x15\x02\x00\x12\x18\x14" + self._ids.token(20, "0123456789ABCDEF").encode()
        return "wamid.HBgL" + base64.b64encode(raw).decode()
