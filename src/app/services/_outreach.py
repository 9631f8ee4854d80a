"""
Reaching a patient by message, and the shape every service uses to subscribe to events.

A free-form text only goes through inside WhatsApp's 24-hour window; outside it the provider
refuses it (`InvalidRequest`) and the same content goes out as a pre-approved template instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from domain.errors import InvalidRequest
from domain.events import DomainEvent
from domain.messaging import MessageReceipt, TemplateMessage, TextMessage
from domain.values import IdempotencyKey, PhoneNumber
from ports.messaging import MessagingPort


__all__ = ["Subscription", "send_text_or_template"]

logger = logging.getLogger("portico.services")

# (event type, async handler): what a service asks the webhook ingress to call.
Subscription = tuple[type[DomainEvent], Callable[[Any], Awaitable[None]]]


async def send_text_or_template(
    messaging: MessagingPort,
    to: PhoneNumber,
    text: str,
    *,
    template: str,
    parameters: Sequence[str],
    language: str = "en",
    key: IdempotencyKey | None = None,
) -> MessageReceipt:
    """Send ``text``; if the provider refuses free text, send ``template`` with ``parameters``."""
    try:
        return await messaging.send(TextMessage(to, text, idempotency_key=key))
    except InvalidRequest as refused:
        logger.info(
            "text to %s refused (%s); falling back to template %r",
            to.masked,
            refused.vendor_code or "no code",
            template,
        )
        return await messaging.send(
            TemplateMessage(to, template, language, tuple(parameters), idempotency_key=key)
        )
