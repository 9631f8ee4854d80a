"""
`GraphEmail`: the `EmailPort` over Microsoft Graph's ``sendMail``, app-only.

``POST /v1.0/users/{sender}/sendMail`` with ``{"message": {"subject", "body": {"contentType",
"content"}, "toRecipients", "ccRecipients", "attachments": [fileAttachment...]},
"saveToSentItems": true}``; Graph answers ``202 Accepted`` with no body and no message id
(Microsoft Learn, "user: sendMail"). The token is an app-only one (client credentials,
``Mail.Send`` application permission) from a `TokenProvider`; a 401 renews it once and resends,
in `VendorClient`. No idempotency key exists: ``client-request-id`` carries one derived from
the command's key so Microsoft support can trace it, but Graph does not dedupe on it.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import quote

import attrs
import httpx

from ...domain.email import EmailMessage, EmailReceipt
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.values import Email
from ...ports.email import EmailPort
from ...ports.tokens import TokenProvider
from ..http.client import VendorClient
from .errors import parse_graph_error


__all__ = ["BASE_URL", "INTEGRATION", "GraphEmail", "send_mail_body"]

BASE_URL = "https://graph.microsoft.com"
INTEGRATION = "graph"


def _recipients(addresses: tuple[Email, ...]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a.address}} for a in addresses]


def send_mail_body(message: EmailMessage, *, save_to_sent_items: bool = True) -> dict[str, Any]:
    """The JSON body of ``sendMail`` (HTML when the message has it, else text)."""
    if message.html is not None:
        body = {"contentType": "HTML", "content": message.html}
    else:
        body = {"contentType": "Text", "content": message.text or ""}
    payload: dict[str, Any] = {
        "subject": message.subject,
        "body": body,
        "toRecipients": _recipients(message.to),
    }
    if message.cc:
        payload["ccRecipients"] = _recipients(message.cc)
    if message.attachments:
        payload["attachments"] = [
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": a.filename,
                "contentType": a.content_type,
                "contentBytes": base64.b64encode(a.content).decode("ascii"),
            }
            for a in message.attachments
        ]
    return {"message": payload, "saveToSentItems": save_to_sent_items}


@attrs.define
class GraphEmail(EmailPort):
    """
    Email from the tenant's mailboxes through Graph.

    Args:
        http: the client to send with; its ``base_url`` is Graph's (or a simulator's).
        tokens: app-only access tokens (client credentials for ``.default``).
        save_to_sent_items: keep a copy in the mailbox's Sent Items (Graph's default).
    """

    http: httpx.AsyncClient = attrs.field(repr=False)
    tokens: TokenProvider = attrs.field(repr=False)
    clock: Clock = attrs.field(default=SYSTEM_CLOCK, repr=False)
    save_to_sent_items: bool = True
    _client: VendorClient = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._client = VendorClient(INTEGRATION, self.http, parse_graph_error, tokens=self.tokens)

    async def send(self, message: EmailMessage) -> EmailReceipt:
        """See `EmailPort.send`."""
        headers = {"Accept": "application/json"}
        if message.idempotency_key is not None:
            trace = uuid.uuid5(uuid.NAMESPACE_URL, message.idempotency_key.value)
            headers["client-request-id"] = str(trace)
        await self._client.send(
            "sendMail",
            "POST",
            f"/v1.0/users/{quote(message.sender.address, safe='@.')}/sendMail",
            json=send_mail_body(message, save_to_sent_items=self.save_to_sent_items),
            headers=headers,
        )
        return EmailReceipt(provider=INTEGRATION, accepted_at=self.clock.now())

    async def aclose(self) -> None:
        """Close the connection pool and the token provider's."""
        await self.http.aclose()
        closer = getattr(self.tokens, "aclose", None)
        if closer is not None:
            await closer()
