"""
Microsoft Graph's ``sendMail``, stateful, with its identity platform's token endpoint.

- ``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant (`TokenEndpoint`).
- ``POST /v1.0/users/{mailbox}/sendMail``: a bearer token the issuer accepts (else 401
  ``InvalidAuthenticationToken``), a mailbox of the tenant (else 404 ``ErrorInvalidUser``), at
  least one recipient (else 400 ``ErrorInvalidRecipients``), a request under 4 MB (else 413
  ``RequestEntityTooLarge``); then ``202 Accepted``, no body. `throttle_next` answers 429
  ``ApplicationThrottled`` with ``Retry-After``, as Graph throttles a mailbox.

Error bodies are Graph's: ``{"error": {"code", "message", "innerError": {"date", "request-id",
"client-request-id"}}}``.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Collection
from typing import Any
from urllib.parse import unquote

import attrs

from tests.simulators.oauth import TokenEndpoint, TokenIssuer
from tests.simulators.sim_base import SimRequest, SimResponse, Simulator, bearer, json_response


__all__ = ["MAILBOX", "GraphSimulator", "SentMail"]

MAILBOX = "clinic@contoso.example"
MAX_REQUEST = 4 * 1024 * 1024
_SEND = re.compile(r"^/v1\.0/users/([^/]+)/sendMail$")


@attrs.frozen
class SentMail:
    """One accepted message, as the recipients' mailboxes would see it."""

    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    content_type: str
    content: str
    attachments: tuple[tuple[str, bytes], ...]


class GraphSimulator(Simulator):
    """Graph's mail sending for one tenant, with its token endpoint on the same app."""

    def __init__(
        self, issuer: TokenIssuer | None = None, *, mailboxes: Collection[str] = (MAILBOX,)
    ) -> None:
        super().__init__()
        self.issuer = issuer or TokenIssuer()
        self.tokens = TokenEndpoint(self.issuer)
        self.mailboxes = {box.lower() for box in mailboxes}
        self.sent: list[SentMail] = []
        self._throttle: list[float] = []

    def throttle_next(self, count: int = 1, retry_after: float = 2.0) -> None:
        """The next ``count`` sendMail requests get 429 with ``Retry-After: retry_after``."""
        self._throttle.extend([retry_after] * count)

    def delivered_to(self, address: str) -> list[SentMail]:
        """The accepted messages with ``address`` among to or cc."""
        wanted = address.lower()
        return [m for m in self.sent if wanted in (*m.to, *m.cc)]

    def fault_response(self, status: int, retry_after: float) -> SimResponse:
        """Graph's words for a throttled or failing request."""
        codes = {429: "ApplicationThrottled", 503: "ServiceUnavailable"}
        response = _error(status, codes.get(status, "generalException"), "simulated fault")
        if status in (429, 503):
            response = response.with_header("retry-after", f"{retry_after:g}")
        return response

    def handle(self, request: SimRequest) -> SimResponse:
        """The token endpoint, or sendMail."""
        if request.path.endswith("/oauth2/v2.0/token"):
            self.received.pop()  # counted by the token endpoint, not as a Graph call
            self.tokens.received.append(request)
            return self.tokens.handle(request)
        found = _SEND.match(request.path)
        if request.method != "POST" or found is None:
            return _error(404, "ResourceNotFound", "Resource not found for the segment.")
        if not self.issuer.accepts(bearer(request.headers)):
            return _error(401, "InvalidAuthenticationToken", "Access token has expired.")
        if self._throttle:
            wait = self._throttle.pop(0)
            return self.fault_response(429, wait)
        if len(request.body) > MAX_REQUEST:
            return _error(413, "RequestEntityTooLarge", "The request is too large.")
        mailbox = unquote(found.group(1)).lower()
        if mailbox not in self.mailboxes:
            return _error(404, "ErrorInvalidUser", "The requested user is invalid.")
        body = request.json()
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict) or not message.get("toRecipients"):
            return _error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        self.sent.append(_read(mailbox, message))
        return SimResponse(202)


def _addresses(items: Any) -> tuple[str, ...]:
    return tuple(item["emailAddress"]["address"].lower() for item in items or ())


def _read(mailbox: str, message: dict[str, Any]) -> SentMail:
    files = tuple(
        (a["name"], base64.b64decode(a["contentBytes"])) for a in message.get("attachments", ())
    )
    return SentMail(
        sender=mailbox,
        to=_addresses(message["toRecipients"]),
        cc=_addresses(message.get("ccRecipients")),
        subject=message.get("subject", ""),
        content_type=message["body"]["contentType"],
        content=message["body"]["content"],
        attachments=files,
    )


def _error(status: int, code: str, message: str) -> SimResponse:
    return json_response(
        status,
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": "2026-12-03T10:00:00",
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        },
    )
