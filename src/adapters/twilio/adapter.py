"""
`TwilioMessaging`: the `MessagingPort` over Twilio Programmable Messaging (SMS), API 2010-04-01.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded (``To``, ``From`` or
``MessagingServiceSid``, ``Body`` or ``ContentSid`` + ``ContentVariables``, ``StatusCallback``),
HTTP basic auth ``AccountSid:AuthToken``, or ``ApiKeySid:ApiKeySecret`` with an API key (``SK...``)
while the Account SID stays in the path, as twilio-python separates ``username`` from
``account_sid``; ``GET .../Messages/{Sid}.json`` reads the status back.

A `TemplateMessage` is sent through Twilio's Content API: its name is a content SID (``HX...``)
or a name mapped to one in ``content_sids``, and its parameters become ``{"1": ..., "2": ...}``.
Twilio has no idempotency key for messages: a retried send may deliver twice.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from ...domain.errors import InvalidRequest, InvalidValue, NotFound
from ...domain.json_reader import JsonNode
from ...domain.messaging import (
    MessageReceipt,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
)
from ...domain.values import PhoneNumber
from ...ports.messaging import MessagingPort
from ..http.client import VendorClient, build_client
from ..http.errors import unexpected
from .errors import parse_twilio_error
from .statuses import delivery_status


__all__ = ["MAX_SMS_BODY", "TwilioMessaging"]

INTEGRATION = "twilio"
BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
MAX_SMS_BODY = 1600  # Twilio refuses longer bodies (error 21617)
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")


def _account_sid(_inst: object, _attr: object, value: Any) -> None:
    if not isinstance(value, str) or not _ACCOUNT_SID.fullmatch(value):
        raise InvalidValue("account_sid", "must be 'AC' followed by 32 hex digits")


@attrs.define
class TwilioMessaging(MessagingPort):
    """
    Sends SMS through one Twilio account.

    Args:
        http: the client to send with (base URL ``https://api.twilio.com`` or a simulator).
        account_sid: the account (``AC...``): the path, and the basic-auth user name unless an
            API key is given.
        auth_token: the basic-auth password: the account's auth token, or the API key's secret
            when ``api_key_sid`` is given; never logged or printed.
        api_key_sid: an API key (``SK...``) to authenticate as instead of the account.
        sender: the ``From`` number; or give ``messaging_service_sid`` instead.
        messaging_service_sid: a Messaging Service (``MG...``) that picks the sender.
        status_callback: where Twilio posts status changes (the webhook endpoint).
        content_sids: template name -> Content API SID (``HX...``) for `TemplateMessage`.
            Names match case-insensitively (environment variables arrive lower-cased, so
            ``PORTICO_TWILIO__CONTENT_SIDS__PaymentLink`` must still find ``PaymentLink``).
    """

    http: httpx.AsyncClient = attrs.field(repr=False)
    account_sid: str = attrs.field(validator=_account_sid)
    auth_token: str = attrs.field(repr=False)
    sender: PhoneNumber | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    content_sids: Mapping[str, str] = attrs.field(factory=dict)
    api_key_sid: str | None = None
    _client: VendorClient = attrs.field(init=False, repr=False)
    _sids_by_name: dict[str, str] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.sender is None) == (self.messaging_service_sid is None):
            raise InvalidValue("sender", "give exactly one of sender or messaging_service_sid")
        if self.messaging_service_sid is not None and not _SERVICE_SID.fullmatch(
            self.messaging_service_sid
        ):
            raise InvalidValue("messaging_service_sid", "must be 'MG' followed by 32 hex digits")
        if self.api_key_sid is not None and not _API_KEY_SID.fullmatch(self.api_key_sid):
            raise InvalidValue("api_key_sid", "must be 'SK' followed by 32 hex digits")
        self._sids_by_name = {}
        for name, sid in self.content_sids.items():
            if not _CONTENT_SID.fullmatch(sid):
                raise InvalidValue(f"content_sids[{name}]", "must be 'HX' followed by 32 hex")
            if self._sids_by_name.setdefault(name.casefold(), sid) != sid:
                raise InvalidValue(
                    f"content_sids[{name}]", "names differing only in case need the same SID"
                )
        self._client = VendorClient(INTEGRATION, self.http, parse_twilio_error)

    @classmethod
    def build(
        cls,
        *,
        account_sid: str,
        auth_token: str,
        sender: PhoneNumber | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        content_sids: Mapping[str, str] | None = None,
        api_key_sid: str | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> TwilioMessaging:
        """An adapter with its own client for api.twilio.com unless ``http`` is given."""
        return cls(
            http=http or build_client(BASE_URL),
            account_sid=account_sid,
            auth_token=auth_token,
            sender=sender,
            messaging_service_sid=messaging_service_sid,
            status_callback=status_callback,
            content_sids=dict(content_sids or {}),
            api_key_sid=api_key_sid,
        )

    @property
    def _messages_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages"

    def _auth(self) -> dict[str, str]:
        pair = f"{self.api_key_sid or self.account_sid}:{self.auth_token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def form(self, message: OutboundMessage) -> list[tuple[str, str]]:
        """The form fields Twilio gets for ``message`` (refused here if Twilio would refuse it)."""
        pairs = [("To", message.to.e164)]
        if self.sender is not None:
            pairs.append(("From", self.sender.e164))
        else:
            pairs.append(("MessagingServiceSid", str(self.messaging_service_sid)))
        if isinstance(message, TextMessage):
            if len(message.body) > MAX_SMS_BODY:
                raise InvalidRequest(
                    f"SMS body is longer than Twilio's {MAX_SMS_BODY} characters",
                    integration=INTEGRATION,
                    request_sent=False,
                )
            pairs.append(("Body", message.body))
        else:
            pairs.append(("ContentSid", self._content_sid(message)))
            if message.parameters:
                variables = {str(i): value for i, value in enumerate(message.parameters, 1)}
                pairs.append(("ContentVariables", json.dumps(variables)))
        if self.status_callback:
            pairs.append(("StatusCallback", self.status_callback))
        return pairs

    def _content_sid(self, message: TemplateMessage) -> str:
        if _CONTENT_SID.fullmatch(message.template):
            return message.template
        sid = self._sids_by_name.get(message.template.casefold())
        if sid is None:
            raise InvalidRequest(
                "template is not a Content API SID (HX...) and has no entry in content_sids",
                integration=INTEGRATION,
                request_sent=False,
            )
        return sid

    async def send(self, message: OutboundMessage) -> MessageReceipt:
        """
        Create the Message; Twilio answers ``queued`` (or ``accepted`` with a service): QUEUED.

        Raises:
            InvalidRequest: refused (bad or unsubscribed number, body too long, unknown template).
            RateLimited: Twilio's 429 / 20429 (14107 arrives later, as a failed status).
            AuthenticationFailed: the account SID or token was refused.
        """
        if not isinstance(message, TextMessage | TemplateMessage):
            raise TypeError(f"cannot send a {type(message).__name__}")
        fields = await self._client.request(
            "send SMS",
            "POST",
            self._messages_path + ".json",
            data=self.form(message),
            headers=self._auth(),
        )
        return self._receipt(fields, "send SMS")

    async def get_status(self, message_id: str) -> MessageReceipt:
        """
        Twilio's current status of a message it created.

        Raises:
            NotFound: no message with this SID (or it is not a message SID at all).
        """
        if not _MESSAGE_SID.fullmatch(message_id):
            raise NotFound("not a Twilio message SID (SM... or MM...)", integration=INTEGRATION)
        fields = await self._client.request(
            "get SMS status",
            "GET",
            f"{self._messages_path}/{message_id}.json",
            headers=self._auth(),
        )
        return self._receipt(fields, "get SMS status")

    async def probe(self) -> None:
        """
        ``GET /2010-04-01/Accounts/{AccountSid}.json`` with basic auth: Twilio's own record of
        the account, answered only for the right SID and token (401 otherwise).
        """
        await self._client.request(
            "probe", "GET", f"/{API_VERSION}/Accounts/{self.account_sid}.json", headers=self._auth()
        )

    def _receipt(self, fields: JsonNode, operation: str) -> MessageReceipt:
        sid = fields.text("sid")
        if not _MESSAGE_SID.fullmatch(sid):
            raise unexpected(INTEGRATION, operation, "sid is not a message SID")
        status = delivery_status(fields.text("status"))
        if status is None:
            raise unexpected(INTEGRATION, operation, "status is not an outbound message status")
        return MessageReceipt(sid, status, INTEGRATION)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self.http.aclose()
