"""
Reaching a patient by message, parking side effects in the outbox, and the subscription shape.

A free-form text only goes through inside WhatsApp's 24-hour window; outside it the provider
refuses it (`InvalidRequest`) and the same content goes out as a pre-approved template instead.
Only a send-now attempt can fall back like that: what waits in the outbox is always the template,
because the relay cannot fall back and the window may have closed by the time the vendor is back.

Meta reports the refusal (131047) synchronously, or asynchronously: the text is accepted and a
``failed`` status webhook follows (or both; Meta's error-codes page,
https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
For the asynchronous path, an accepted text's template is remembered by message id in a
`TextFallbackStore` (the delivery-status store); `app.services.message_failures` enqueues it
when the failed status arrives, keyed by `fallback_key`, so a redelivered webhook adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ...domain.command_codec import encode_command
from ...domain.commands import Command, SendMessage, UpsertContact
from ...domain.crm import ContactDraft
from ...domain.errors import Conflict, InvalidRequest
from ...domain.messaging import MessageReceipt, TemplateMessage, TextMessage
from ...domain.values import IdempotencyKey, PhoneNumber
from ...ports.crm import upsert_is_idempotent
from ...ports.delivery_status import TextFallbackStore
from .outbox_dispatch import CommandDispatch, DeliveryMode, Dispatched


__all__ = [
    "enqueue_once",
    "fallback_key",
    "remember_fallback",
    "send_text_or_template",
    "upsert_command",
]

logger = logging.getLogger("portico.services")


async def send_text_or_template(
    dispatch: CommandDispatch,
    to: PhoneNumber,
    text: str,
    *,
    template: str,
    parameters: Sequence[str],
    key: IdempotencyKey,
    language: str = "en",
    mode: DeliveryMode | None = None,
    fallbacks: TextFallbackStore | None = None,
) -> Dispatched:
    """
    Send ``text`` now; if refused as free text, send ``template``; if the vendor is down, queue
    the template. Under ``ALWAYS_ENQUEUE`` the template is queued at once.

    Text and template share ``key``: the outbox holds at most one of them. When the text is
    accepted and ``fallbacks`` is given, the template is remembered for the text's message id
    (`remember_fallback`), for the case the provider reports the text failed later (131047).
    """
    fallback = TemplateMessage(to, template, language, tuple(parameters))
    as_template = SendMessage(fallback, key)
    as_text = SendMessage(TextMessage(to, text), key)
    try:
        sent = await dispatch.submit(as_text, mode=mode, queue_instead=as_template)
    except InvalidRequest as refused:
        logger.info(
            "text to %s refused (%s); falling back to template %r",
            to.masked,
            refused.vendor_code or "no code",
            template,
        )
        return await dispatch.submit(as_template, mode=mode)
    if fallbacks is not None and sent.sent and isinstance(sent.result, MessageReceipt):
        await remember_fallback(fallbacks, sent.result, fallback)
    return sent


def fallback_key(provider: str, message_id: str) -> IdempotencyKey:
    """The outbox key of the template sent because the text ``message_id`` failed: once each."""
    return IdempotencyKey.derive("text-fallback", provider, message_id)


async def remember_fallback(
    fallbacks: TextFallbackStore, receipt: MessageReceipt, template: TemplateMessage
) -> bool:
    """
    Keep ``template`` as what to send if the accepted text of ``receipt`` fails later.

    Never raises: the text was accepted, and failing now would make the caller send it again.
    A store that cannot write loses only the asynchronous fallback (logged; False).
    """
    command = SendMessage(template, fallback_key(receipt.provider, receipt.message_id))
    try:
        await fallbacks.remember_fallback(receipt.message_id, encode_command(command))
    except Exception as err:  # noqa: BLE001 - any store failure, see the docstring
        logger.warning(
            "text accepted, but its template fallback %s could not be kept (%s)",
            command.idempotency_key,
            type(err).__name__,
        )
        return False
    return True


async def enqueue_once(
    dispatch: CommandDispatch, command: Command, *, delay: float = 0.0
) -> Dispatched | None:
    """
    Park ``command`` in the outbox (``ALWAYS_ENQUEUE``, due in ``delay`` seconds); None when its
    key already holds another.

    Side effects of a webhook carry keys derived from the event's subject, so a redelivered or
    concurrent webhook enqueues nothing new. If the content changed meanwhile (the patient's
    phone was edited between two deliveries), the first accepted version stands: one receipt.
    """
    try:
        return await dispatch.submit(command, mode=DeliveryMode.ALWAYS_ENQUEUE, delay=delay)
    except Conflict as taken:
        if taken.integration != "outbox":
            raise
        logger.info(
            "%s %s already accepted with other content; kept",
            command.kind,
            command.idempotency_key,
        )
        return None


def upsert_command(
    crm: object, draft: ContactDraft, key: IdempotencyKey | None = None
) -> UpsertContact:
    """
    An `UpsertContact` whose ``redeliverable`` is what ``crm`` (the CRM the relay will use) says
    of this draft: HubSpot without a unique phone property cannot dedupe a phone-only create, so
    the relay must not resend such a command after an unknown outcome or an expired lease.

    Prefer `UpdateContact` whenever the contact's id is known.
    """
    return UpsertContact(
        draft, key or IdempotencyKey.new(), redeliverable=upsert_is_idempotent(crm, draft)
    )
