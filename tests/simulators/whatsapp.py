"""
`WhatsAppSimulator`: the Cloud API send endpoint, as Meta (``/v23.0/{id}/messages``, Bearer) and
as 360dialog (``/messages``, ``D360-API-KEY``), with wamid ids, Meta's error bodies, the 24-hour
window, approved templates, and the status webhooks Meta would send.

A text outside the 24-hour window fails one of the two ways Meta reports Cloud API errors
("synchronously as a Graph API response, asynchronously via Webhook, or sometimes through both",
https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/),
chosen by ``window_errors``: ``"sync"`` answers HTTP 400 with code 131047; ``"async"`` accepts it
(200 and a wamid) and queues, in `webhooks`, the signed ``failed`` status webhook Meta then POSTs,
shaped as Meta's status webhook reference shows (``statuses[].errors[]`` of ``code``, ``title``,
``message``, ``error_data.details``, ``href``:
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any, Literal

import attrs

from portico.domain.messaging import DeliveryStatus
from tests.simulators.sim_base import SimRequest, SimResponse, Simulator, json_response


__all__ = ["SimMessage", "WhatsAppSimulator"]

_META_PATH = re.compile(r"/(v\d+\.\d+)/(\d+)/messages")
_META_NODE = re.compile(r"/(v\d+\.\d+)/(\d+)")
_DIGITS = re.compile(r"[1-9]\d{7,14}")
_ERROR_CODES_HREF = "/documentation/business-messaging/whatsapp/support/error-codes"
# Meta's error-codes page: code -> (title, details); None where this file quotes no details.
_STATUS_ERRORS: dict[int, tuple[str, str | None]] = {
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    ),
    131026: ("Message undeliverable", None),
}


@attrs.define
class SimMessage:
    """A message the simulator accepted."""

    id: str
    to: str
    type: str
    payload: dict[str, Any]
    status: DeliveryStatus = DeliveryStatus.QUEUED


def _meta_error(status: int, code: int, message: str, details: str | None = None) -> SimResponse:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(10),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return json_response(status, {"error": error})


def _d360_unauthorised() -> SimResponse:
    """360dialog's answer to a missing or wrong ``D360-API-KEY``."""
    meta = {"success": False, "http_code": 401, "developer_message": "Invalid api_key"}
    return json_response(401, {"meta": meta})


class WhatsAppSimulator(Simulator):
    """
    Meta's Cloud API (and 360dialog's hosting of it), stateful.

    Args:
        token: the Bearer token Meta accepts.
        api_key: the ``D360-API-KEY`` 360dialog accepts.
        phone_number_id: the sending number's id in Meta's path.
        enforce_window: refuse free-form text (131047) unless `open_window` was called; off,
            only the numbers given to `close_window` are refused.
        approved_templates: template names that exist; None accepts any.
        window_errors: ``"sync"`` (a 400 with 131047) or ``"async"`` (accepted, then a failed
            status webhook with 131047 in `webhooks`).
        app_secret: the Meta app secret the webhooks are signed with (``X-Hub-Signature-256``).
    """

    def __init__(
        self,
        *,
        token: str = "EAAG-test-token",
        api_key: str = "d360-test-key",
        phone_number_id: str = "106540352242922",
        enforce_window: bool = False,
        approved_templates: set[str] | None = None,
        window_errors: Literal["sync", "async"] = "sync",
        app_secret: str = "portico-development-only",
    ) -> None:
        super().__init__()
        if window_errors not in ("sync", "async"):
            raise ValueError("window_errors must be 'sync' or 'async'")
        self.token = token
        self.api_key = api_key
        self.phone_number_id = phone_number_id
        self.enforce_window = enforce_window
        self.approved_templates = approved_templates
        self.window_errors = window_errors
        self.app_secret = app_secret
        self.webhooks: list[dict[str, Any]] = []
        self.messages: dict[str, SimMessage] = {}
        self.windows: set[str] = set()
        self.closed: set[str] = set()

    def open_window(self, digits: str) -> None:
        """The patient wrote to us: free-form text to them is allowed."""
        self.windows.add(digits.lstrip("+"))
        self.closed.discard(digits.lstrip("+"))

    def close_window(self, digits: str) -> None:
        """The patient's last message is over 24 hours old: free-form text is refused (131047)."""
        self.windows.discard(digits.lstrip("+"))
        self.closed.add(digits.lstrip("+"))

    def fault_response(self, status: int, retry_after: float) -> SimResponse:
        """Meta's bodies for throttling and outages."""
        if status == 429:
            error: dict[str, Any] = {"message": "(#130429) Rate limit hit", "code": 130429}
            headers = {"retry-after": f"{retry_after:g}"}
        else:
            error = {"message": "Service temporarily unavailable", "code": 2, "is_transient": True}
            headers = {}
        error.update(type="OAuthException", fbtrace_id="Afault")
        return json_response(status, {"error": error}, headers)

    def handle(self, request: SimRequest) -> SimResponse:
        """Route, authenticate and send (or read the number's node, or 360dialog's templates)."""
        if request.method == "GET":
            return self._read(request)
        if request.method != "POST":
            return _meta_error(400, 100, "Unsupported request - method type: get")
        match = _META_PATH.fullmatch(request.path)
        if match:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _meta_error(
                    401, 190, "Invalid OAuth access token - Cannot parse access token"
                )
            if match.group(2) != self.phone_number_id:
                return _meta_error(400, 100, "Unsupported post request. Object does not exist")
        elif request.path == "/messages":
            if request.headers.get("d360-api-key") != self.api_key:
                return _d360_unauthorised()
        else:
            return _meta_error(404, 100, "Unknown path components")
        return self._send(request.json())

    def _read(self, request: SimRequest) -> SimResponse:
        """
        Meta's ``GET /{version}/{phone-number-id}`` (the number's node) and 360dialog's
        ``GET /v1/configs/templates``, each behind its own credential as the real ones are.
        """
        node = _META_NODE.fullmatch(request.path)
        if node:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _meta_error(
                    401, 190, "Invalid OAuth access token - Cannot parse access token"
                )
            if node.group(2) != self.phone_number_id:
                return _meta_error(
                    400,
                    100,
                    f"Unsupported get request. Object with ID '{node.group(2)}' does not exist, "
                    "cannot be loaded due to missing permissions, or does not support this "
                    "operation.",
                )
            number = {
                "id": self.phone_number_id,
                "display_phone_number": "+1 555-010-0000",
                "verified_name": "Portico Test Clinic",
                "quality_rating": "GREEN",
            }
            wanted = [f for f in request.params().get("fields", "").split(",") if f]
            return json_response(
                200, {k: v for k, v in number.items() if not wanted or k in wanted}
            )
        if request.path == "/v1/configs/templates":
            if request.headers.get("d360-api-key") != self.api_key:
                return _d360_unauthorised()
            names = sorted(self.approved_templates or {"hello_world"})
            limit = int(request.params().get("limit", "1000") or "1000")
            templates = [
                {"name": n, "language": "en", "status": "approved", "category": "UTILITY"}
                for n in names[:limit]
            ]
            return json_response(
                200,
                {
                    "count": len(templates),
                    "filters": {},
                    "limit": limit,
                    "offset": 0,
                    "sort": ["id"],
                    "total": len(names),
                    "waba_templates": templates,
                },
            )
        return _meta_error(400, 100, "Unsupported get request.")

    def _send(self, body: Any) -> SimResponse:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return _meta_error(400, 100, "(#100) The parameter messaging_product is required.")
        to = body.get("to")
        if not isinstance(to, str) or not _DIGITS.fullmatch(to):
            return _meta_error(400, 100, "(#100) Invalid parameter", "to must be a phone number")
        kind = body.get("type")
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("body"), str):
                return _meta_error(400, 100, "(#100) The parameter text['body'] is required.")
            outside = to in self.closed or (self.enforce_window and to not in self.windows)
            if outside and self.window_errors == "async":
                return self._accept(to, kind, body, fails_with=131047)
            if outside:
                return _meta_error(
                    400,
                    131047,
                    "(#131047) Re-engagement message",
                    "Message failed to send because more than 24 hours have passed since the "
                    "customer last replied to this number.",
                )
        elif kind == "template":
            template = body.get("template")
            if not isinstance(template, dict) or not isinstance(template.get("name"), str):
                return _meta_error(400, 100, "(#100) The parameter template['name'] is required.")
            language = template.get("language")
            if not isinstance(language, dict) or not isinstance(language.get("code"), str):
                return _meta_error(
                    400, 100, "(#100) The parameter template['language'] is required."
                )
            if (
                self.approved_templates is not None
                and template["name"] not in self.approved_templates
            ):
                return _meta_error(
                    404,
                    132001,
                    "(#132001) Template name does not exist in the translation",
                    "template name not found in the language",
                )
        else:
            return _meta_error(400, 131051, "(#131051) Unsupported message type")
        return self._accept(to, kind, body)

    def _accept(
        self, to: str, kind: str, body: dict[str, Any], *, fails_with: int | None = None
    ) -> SimResponse:
        """Answer 200 with a new wamid; ``fails_with`` queues its failed status webhook."""
        message_id = self._new_id()
        self.messages[message_id] = SimMessage(message_id, to, kind, body)
        if fails_with is not None:
            self.webhooks.append(self.advance(message_id, DeliveryStatus.FAILED, error=fails_with))
        return json_response(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            },
        )

    def advance(
        self, message_id: str, status: DeliveryStatus, *, error: int = 131026
    ) -> dict[str, Any]:
        """
        Meta reports a status: moves the message forward (never back) and returns the webhook
        body Meta would POST (``entry[].changes[].value.statuses[]``); a FAILED one carries
        ``error`` (default 131026, undeliverable).
        """
        message = self.messages[message_id]
        if not message.status.is_final() and status.rank > message.status.rank:
            message.status = status
        return self.status_webhook(message_id, status, error=error)

    def signed(self, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """A webhook body as Meta POSTs it: the bytes and ``X-Hub-Signature-256`` over them."""
        raw = json.dumps(body).encode()
        mac = hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        return raw, {"content-type": "application/json", "x-hub-signature-256": f"sha256={mac}"}

    def take_webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        """The queued webhooks, signed, oldest first; the queue is emptied."""
        bodies, self.webhooks = self.webhooks, []
        return [self.signed(body) for body in bodies]

    def status_webhook(
        self, message_id: str, status: DeliveryStatus, *, error: int = 131026
    ) -> dict[str, Any]:
        """The webhook body of one status event (a FAILED one carries ``error``)."""
        message = self.messages[message_id]
        event: dict[str, Any] = {
            "id": message_id,
            "status": status.value,
            "timestamp": str(int(time.time())),
            "recipient_id": message.to,
        }
        if status is DeliveryStatus.FAILED:
            title, details = _STATUS_ERRORS.get(error, ("Unknown error", None))
            failure: dict[str, Any] = {"code": error, "title": title, "message": title}
            if details is not None:
                failure["error_data"] = {"details": details}
            failure["href"] = _ERROR_CODES_HREF
            event["errors"] = [failure]
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"phone_number_id": self.phone_number_id},
                                "statuses": [event],
                            },
                        }
                    ],
                }
            ],
        }

    @staticmethod
    def _new_id() -> str:
        # Meta's ids are base64 of a small binary blob (which embeds the recipient): ours do not.
        raw = b"\x15\x02\x00\x11\x18\x12" + secrets.token_hex(10).upper().encode()
        return "wamid.HBgL" + base64.b64encode(raw).decode()
