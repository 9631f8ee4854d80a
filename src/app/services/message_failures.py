"""
Message failures the provider reports after the fact: the asynchronous half of the text fallback.

Meta reports a Cloud API error synchronously, asynchronously through the messages webhook, or both
(https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
A free-form text outside the 24-hour window (131047, "Re-engagement message") is often accepted
(a ``wamid``) and then reported ``failed``: without this service the patient gets nothing.

- A ``failed`` status with 131047 for a text whose template was remembered when it was accepted
  (`app.services._outreach.remember_fallback`) enqueues that template, keyed by the text's id
  (`fallback_key`): a redelivered or concurrent webhook finds the key taken and adds nothing, and
  the relay sends it once.
- A ``failed`` status the provider caused only by throttling (``retry_after`` set: Twilio's 14107,
  more than 30 replies between two numbers in 30 s, reported by status callback, never by the REST
  API) enqueues the remembered command the same way, due after ``retry_after``: the patient gets
  the content late rather than never, and the throttle has passed when it goes.
- Any other failure code, and a 131047 or throttled failure with nothing remembered (a text sent
  by another system, or one older than the store's retention), sends nothing and is logged with
  its code and title.
- ``value.errors`` (`MessagingErrorReported`, errors tied to no message) are logged likewise.

Logs name message ids only by their hashed fallback key: Meta's ids embed the recipient's number.
"""

from __future__ import annotations

import logging

import attrs

from ...domain.command_codec import decode_command
from ...domain.commands import SendMessage
from ...domain.errors import InvalidValue
from ...domain.events import MessageStatusChanged, MessagingErrorReported
from ...domain.messaging import DeliveryStatus, TemplateMessage
from ...ports.delivery_status import TextFallbackStore
from ._outreach import enqueue_once, fallback_key
from .outbox_dispatch import CommandDispatch, Dispatched
from .webhook_values import Subscription


__all__ = ["OUTSIDE_WINDOW_CODES", "MessageFailures"]

logger = logging.getLogger("portico.services")

# Meta's "Re-engagement message": free-form text more than 24 hours after the patient last wrote.
OUTSIDE_WINDOW_CODES = frozenset({"131047"})


@attrs.frozen
class MessageFailures:
    """
    React to failed messages and provider-level errors reported by webhook.

    Args:
        dispatch: where a fallback template is enqueued (`OutboxDispatch`).
        fallbacks: where accepted texts' templates were remembered (the delivery-status store);
            None: no asynchronous fallback (failures are still logged).
    """

    dispatch: CommandDispatch
    fallbacks: TextFallbackStore | None = attrs.field(default=None, repr=False)

    async def fall_back(self, event: MessageStatusChanged) -> Dispatched | None:
        """
        Enqueue the remembered template of a text that failed outside the window (at once) or was
        throttled (due after ``retry_after``), once.

        Returns what the outbox accepted (the same entry again for a redelivery), or None when
        the event calls for no template (not failed, another code, nothing remembered).

        Raises:
            InvalidValue: the remembered command cannot be read or is not a template (permanent:
                the ingress records the event for replay).
            Exception: the store could not be read (transient: the provider redelivers).
        """
        if event.status is not DeliveryStatus.FAILED:
            return None
        key = fallback_key(event.provider, event.message_id)
        throttled = event.retry_after is not None
        why = "was throttled" if throttled else "failed outside the 24-hour window"
        if event.error_code not in OUTSIDE_WINDOW_CODES and not throttled:
            logger.warning(
                "%s message %s failed (%s: %s); no fallback for this code",
                event.provider,
                key,
                event.error_code or "no code",
                event.error_title or "no title",
            )
            return None
        stored = (
            None if self.fallbacks is None else await self.fallbacks.fallback_for(event.message_id)
        )
        if stored is None:
            logger.warning(
                "%s message %s %s (%s) and no template was kept for it; nothing sent",
                event.provider,
                key,
                why,
                event.error_code,
            )
            return None
        command = decode_command(stored)
        if not (isinstance(command, SendMessage) and isinstance(command.message, TemplateMessage)):
            raise InvalidValue("fallback", "the kept command is not a template message")
        delay = event.retry_after or 0.0
        accepted = await enqueue_once(self.dispatch, command, delay=delay)
        logger.info(
            "%s text %s %s (%s); template %r queued instead, due in %gs",
            event.provider,
            key,
            why,
            event.error_code or "no code",
            command.message.template,
            delay,
        )
        return accepted

    async def on_status_changed(self, event: MessageStatusChanged) -> None:
        """Webhook handler: a failed status may send the text's template (`fall_back`)."""
        await self.fall_back(event)

    async def on_error_reported(self, event: MessagingErrorReported) -> None:
        """Webhook handler: an error outside any message is logged, never dropped silently."""
        logger.warning(
            "%s reported an error outside any message: %s (%s)",
            event.provider,
            event.code or "no code",
            event.title or "no title",
        )

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The events this service reacts to, for the webhook ingress."""
        return (
            (MessageStatusChanged, self.on_status_changed),
            (MessagingErrorReported, self.on_error_reported),
        )
