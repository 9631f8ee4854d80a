"""
`WhatsAppMessaging`: the `MessagingPort` over the WhatsApp Cloud API, at Meta or at 360dialog.

Follows the Cloud API message bodies of Graph API v23.0 (the version is pinned in the flavour
and configurable): ``{"messaging_product": "whatsapp", "to": "<digits, no +>", "type": "text"
| "template", ...}``, answered with ``{"messages": [{"id": "wamid...."}]}``.

The Cloud API has no idempotency key, so a retried send may deliver twice: resilience retries a
send only when the request provably never reached Meta. It also has no status lookup, so
``get_status`` answers from a `DeliveryStatusLog` that this adapter fills on send and that the
status webhooks update (``adapter.status_log.record(message_id, status)``).
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx

from adapters.http.client import VendorClient, build_client
from adapters.http.errors import unexpected
from adapters.whatsapp.errors import parse_meta_error
from adapters.whatsapp.flavours import DIALOG360, WhatsAppFlavour, meta_cloud
from adapters.whatsapp.status_log import DeliveryStatusLog
from domain.errors import NotFound
from domain.messaging import (
    DeliveryStatus,
    MessageReceipt,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
)
from ports.messaging import MessagingPort


__all__ = ["WhatsAppMessaging", "message_payload"]


def message_payload(message: OutboundMessage) -> dict[str, Any]:
    """The Cloud API JSON body for one text or template message."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to.digits,
    }
    if isinstance(message, TextMessage):
        body["type"] = "text"
        body["text"] = {"preview_url": False, "body": message.body}
        return body
    template: dict[str, Any] = {"name": message.template, "language": {"code": message.language}}
    if message.parameters:
        template["components"] = [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": value} for value in message.parameters],
            }
        ]
    body["type"] = "template"
    body["template"] = template
    return body


@attrs.define
class WhatsAppMessaging(MessagingPort):
    """
    Sends text and template messages through the Cloud API.

    Args:
        http: the client to send with; its base URL is the flavour's (or a simulator's).
        credential: Meta's access token or 360dialog's API key (never logged or printed).
        flavour: Meta (`meta_cloud`) or 360dialog (`DIALOG360`).
        phone_number_id: Meta's id of the sending number (not used by 360dialog).
        status_log: where statuses are kept for ``get_status``; share it with the webhook handler.
    """

    http: httpx.AsyncClient = attrs.field(repr=False)
    credential: str = attrs.field(repr=False)
    flavour: WhatsAppFlavour = attrs.field(factory=meta_cloud)
    phone_number_id: str | None = None
    status_log: DeliveryStatusLog = attrs.field(factory=DeliveryStatusLog, repr=False)
    _client: VendorClient = attrs.field(init=False, repr=False)
    _path: str = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._path = self.flavour.messages_path(self.phone_number_id)
        self._client = VendorClient(self.flavour.name, self.http, parse_meta_error)

    @classmethod
    def meta(
        cls,
        *,
        token: str,
        phone_number_id: str,
        graph_version: str | None = None,
        http: httpx.AsyncClient | None = None,
        status_log: DeliveryStatusLog | None = None,
    ) -> WhatsAppMessaging:
        """Meta's Cloud API; builds a client for graph.facebook.com unless one is given."""
        flavour = meta_cloud(graph_version) if graph_version else meta_cloud()
        return cls(
            http=http or build_client(flavour.base_url),
            credential=token,
            flavour=flavour,
            phone_number_id=phone_number_id,
            status_log=status_log or DeliveryStatusLog(),
        )

    @classmethod
    def dialog360(
        cls,
        *,
        api_key: str,
        http: httpx.AsyncClient | None = None,
        status_log: DeliveryStatusLog | None = None,
    ) -> WhatsAppMessaging:
        """360dialog's Cloud API hosting; builds a client for waba-v2.360dialog.io unless given."""
        return cls(
            http=http or build_client(DIALOG360.base_url),
            credential=api_key,
            flavour=DIALOG360,
            status_log=status_log or DeliveryStatusLog(),
        )

    @property
    def provider(self) -> str:
        """The provider name in receipts and errors."""
        return self.flavour.name

    async def send(self, message: OutboundMessage) -> MessageReceipt:
        """
        Send one message; Meta accepting it makes it QUEUED (delivery is reported by webhook).

        Raises:
            InvalidRequest: refused, e.g. a text outside the 24-hour window (Meta's 131047: send
                a `TemplateMessage` instead) or an unknown template (132001).
            RateLimited: Meta's throughput (130429) or pair-rate (131056) limit.
            AuthenticationFailed: the token or key was refused (190, 401).
        """
        if not isinstance(message, TextMessage | TemplateMessage):
            raise TypeError(f"cannot send a {type(message).__name__}")
        kind = "template" if isinstance(message, TemplateMessage) else "text"
        fields = await self._client.request(
            f"send {kind} message",
            "POST",
            self._path,
            json=message_payload(message),
            headers=self.flavour.auth_headers(self.credential),
        )
        messages = fields.objects("messages")
        if not messages:
            raise unexpected(self.provider, f"send {kind} message", "messages is empty")
        message_id = messages[0].text("id")
        if not message_id.strip() or len(message_id) > 256:  # MessageReceipt.message_id limit
            raise unexpected(self.provider, f"send {kind} message", "messages[0].id is not an id")
        status = self.status_log.record(message_id, DeliveryStatus.QUEUED)
        return MessageReceipt(message_id, status, self.provider)

    async def get_status(self, message_id: str) -> MessageReceipt:
        """
        The furthest status recorded for a message sent through this log.

        Meta offers no status lookup: this reads the `DeliveryStatusLog`, which knows messages
        sent through it and every status webhook recorded into it. Nothing is sent to Meta.

        Raises:
            NotFound: the log has never seen this message id.
        """
        status = self.status_log.get(message_id)
        if status is None:
            raise NotFound(
                "no status recorded for this message id (Meta has no status lookup: statuses "
                "come from sends and status webhooks recorded in this process's log)",
                integration=self.provider,
            )
        return MessageReceipt(message_id, status, self.provider)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self.http.aclose()
