"""
`WhatsAppMessaging`: the `MessagingPort` over the WhatsApp Cloud API, at Meta or at 360dialog.

Follows the Cloud API message bodies of Graph API v23.0 (the version is pinned in the flavour
and configurable): ``{"messaging_product": "whatsapp", "to": "<digits, no +>", "type": "text"
| "template", ...}``, answered with ``{"messages": [{"id": "wamid...."}]}``.

The Cloud API has no idempotency key, so a retried send may deliver twice: resilience retries a
send only when the request provably never reached Meta. It also has no status lookup, so
``get_status`` answers from a `DeliveryStatusStore` that this adapter fills on send and that the
status webhooks update. The default is an in-process `DeliveryStatusLog`; give the sending and
the webhook process one durable store (SQLite file or Redis) so each sees the other's records.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import httpx

from ...domain.errors import NotFound, PorticoError, Unavailable
from ...domain.messaging import (
    DeliveryStatus,
    MessageReceipt,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
)
from ...ports.delivery_status import DeliveryStatusStore
from ...ports.messaging import MessagingPort
from ..http.client import VendorClient, build_client
from ..http.errors import unexpected
from .errors import parse_meta_error
from .flavours import DIALOG360, WhatsAppFlavour, meta_cloud
from .status_log import DeliveryStatusLog, as_status_store


__all__ = ["WhatsAppMessaging", "message_payload"]

logger = logging.getLogger("portico.whatsapp")


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
        status_log: where statuses are kept for ``get_status``; share it with the webhook
            handler: a `DeliveryStatusLog` (in-process, the default) or any
            `DeliveryStatusStore` (``status_sqlite``, ``status_redis``). `aclose` closes it.
    """

    http: httpx.AsyncClient = attrs.field(repr=False)
    credential: str = attrs.field(repr=False)
    flavour: WhatsAppFlavour = attrs.field(factory=meta_cloud)
    phone_number_id: str | None = None
    status_log: DeliveryStatusLog | DeliveryStatusStore = attrs.field(
        factory=DeliveryStatusLog, repr=False
    )
    _store: DeliveryStatusStore = attrs.field(init=False, repr=False)
    _client: VendorClient = attrs.field(init=False, repr=False)
    _path: str = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._store = as_status_store(self.status_log)
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
        status_log: DeliveryStatusLog | DeliveryStatusStore | None = None,
    ) -> WhatsAppMessaging:
        """Meta's Cloud API; builds a client for graph.facebook.com unless one is given."""
        flavour = meta_cloud(graph_version) if graph_version else meta_cloud()
        return cls(
            http=http or build_client(flavour.base_url),
            credential=token,
            flavour=flavour,
            phone_number_id=phone_number_id,
            status_log=DeliveryStatusLog() if status_log is None else status_log,
        )

    @classmethod
    def dialog360(
        cls,
        *,
        api_key: str,
        http: httpx.AsyncClient | None = None,
        status_log: DeliveryStatusLog | DeliveryStatusStore | None = None,
    ) -> WhatsAppMessaging:
        """360dialog's Cloud API hosting; builds a client for waba-v2.360dialog.io unless given."""
        return cls(
            http=http or build_client(DIALOG360.base_url),
            credential=api_key,
            flavour=DIALOG360,
            status_log=DeliveryStatusLog() if status_log is None else status_log,
        )

    @property
    def status_store(self) -> DeliveryStatusStore:
        """The async view of ``status_log`` that sends and ``get_status`` use."""
        return self._store

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
        messages = fields.items("messages")
        if not messages:
            raise unexpected(self.provider, f"send {kind} message", "messages is empty")
        message_id = messages[0].text("id")
        if not message_id.strip() or len(message_id) > 256:  # MessageReceipt.message_id limit
            raise unexpected(self.provider, f"send {kind} message", "messages[0].id is not an id")
        return MessageReceipt(message_id, await self._record_queued(message_id), self.provider)

    async def probe(self) -> None:
        """
        A read the provider must answer with our credential: Meta's node of the sending number,
        or 360dialog's template list (`WhatsAppFlavour.probe_path`). `get_status` cannot serve:
        it reads the local status log and never reaches the provider.
        """
        path, params = self.flavour.probe_path(self.phone_number_id)
        await self._client.request(
            "probe", "GET", path, params=params, headers=self.flavour.auth_headers(self.credential)
        )

    async def _record_queued(self, message_id: str) -> DeliveryStatus:
        """
        Record QUEUED for an accepted message; a failing store must not fail the send.

        Meta has accepted the message: raising now would make the caller retry and deliver it
        twice. A lost record only means ``get_status`` answers NotFound until a webhook arrives.
        """
        try:
            return await self._store.record(message_id, DeliveryStatus.QUEUED)
        except Exception as err:  # noqa: BLE001 - any store failure, see the docstring
            logger.warning(
                "%s: message accepted but its status could not be recorded (%s)",
                self.provider,
                type(err).__name__,
            )
            return DeliveryStatus.QUEUED

    async def get_status(self, message_id: str) -> MessageReceipt:
        """
        The furthest status recorded for a message sent through this log.

        Meta offers no status lookup: this reads the `DeliveryStatusLog`, which knows messages
        sent through it and every status webhook recorded into it. Nothing is sent to Meta.

        Raises:
            NotFound: the log has never seen this message id.
            Unavailable: the status store could not be read (not sent to Meta: safe to retry).
        """
        try:
            status = await self._store.get(message_id)
        except PorticoError:
            raise
        except Exception as exc:
            raise Unavailable(
                f"the delivery-status store could not be read ({type(exc).__name__})",
                integration=self.provider,
                request_sent=False,
            ) from exc
        if status is None:
            raise NotFound(
                "no status recorded for this message id (Meta has no status lookup: statuses "
                "come from sends and status webhooks recorded in the status store)",
                integration=self.provider,
            )
        return MessageReceipt(message_id, status, self.provider)

    async def aclose(self) -> None:
        """Close the HTTP connection pool and the status store (when it holds a connection)."""
        await self.http.aclose()
        close = getattr(self._store, "close", None)
        if close is not None:
            await close()
